"""`elbox train --log tensorboard --log wandb`: the experiment loggers of a run."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy.typing as npt

from ..training import Callback, TensorBoardLogger, WandbLogger
from ..training._experiment_logger import import_extra
from ._errors import RunError
from ._options import TrainOptions
from ._splits import Splits

_PACKAGES = {"tensorboard": ("tensorboardX", "tensorboard"), "wandb": ("wandb", "wandb")}
TENSORBOARD_FOLDER = "tensorboard"


def check_logger_packages(log: Sequence[str]) -> None:
    """A RunError naming the extra to install when a logger's package is missing."""
    for name in log:
        module, extra = _PACKAGES[name]
        try:
            import_extra(module, extra, f"--log {name}")
        except ImportError as error:
            raise RunError(str(error)) from None


def experiment_loggers(
    options: TrainOptions, folder: Path, examples: npt.ArrayLike, splits: Splits
) -> list[Callback]:
    """The loggers `--log` asks for, drawing `examples` (a few validation examples)."""
    images: dict[str, Any] = {
        "examples": examples,
        "image_shape": splits.image_shape,
        "value_range": splits.value_range,
        "images_every_n_epochs": options.log_images_every,
        "seed": options.seed + 1,
    }
    loggers: list[Callback] = []
    for name in options.log:
        if name == "tensorboard":
            loggers.append(TensorBoardLogger(folder / TENSORBOARD_FOLDER, **images))
        else:
            loggers.append(
                WandbLogger(
                    options.wandb_project,
                    name=folder.name,
                    dir=folder,
                    config=options.to_json(),
                    **images,
                )
            )
    return loggers
