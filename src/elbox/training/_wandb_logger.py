"""A callback that sends a fit's metrics and image panels to Weights & Biases."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, final

import numpy as np
import numpy.typing as npt

from ._experiment_logger import AbstractExperimentLogger, import_extra
from ._protocols import TrainingLoop


@final
class WandbLogger(AbstractExperimentLogger):
    """Logs every step's metrics, each epoch's logs and image panels to a W&B run.

    Uses the `wandb` package, an optional package: `pip install wandb` (or
    elbox's extra: `pip install '.[wandb]'` in a clone of elbox). The run
    starts when the fit does and finishes when it ends (marked failed after an error).
    W&B reads its usual environment variables (`WANDB_API_KEY`, `WANDB_MODE`, ...); with
    `mode="offline"` (or `WANDB_MODE=offline`) nothing is sent, and `wandb sync` uploads
    the run later. The run's id is kept in checkpoints, so a resumed fit continues the
    same W&B run. The keys are those of
    [`TensorBoardLogger`][elbox.training.TensorBoardLogger] (`train/loss`,
    `epoch/val_neg_elbo`, `images/reconstructions`, ...), logged at the same steps. With
    several processes only process 0 logs.

    Args:
        project: the W&B project.
        name: the run's display name (default: W&B's choice).
        dir: the folder W&B writes its files under (a `wandb/` folder in it).
        config: the run's configuration, shown in W&B (e.g. the training options).
        mode: `"online"`, `"offline"` or `"disabled"` (default: W&B's, from
            `WANDB_MODE`).
        examples: examples to reconstruct in the image panels, shaped as the model takes
            them; None logs no images.
        image_shape: `(height, width, channels)` of an example, when the model takes them
            flattened.
        value_range: the data's range, shown as black to white.
        images_every_n_epochs: how often to draw the panels (0: never).
        num_samples: how many prior samples to draw.
        seed: the seed of the prior samples.
        init_kwargs: further arguments for `wandb.init` (`entity`, `tags`, `settings`, ...).

    Raises:
        ImportError: when wandb is not installed, naming the extra to install.
    """

    def __init__(
        self,
        project: str,
        *,
        name: str | None = None,
        dir: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        mode: Literal["online", "offline", "disabled"] | None = None,
        examples: npt.ArrayLike | None = None,
        image_shape: tuple[int, int, int] | None = None,
        value_range: tuple[float, float] = (0.0, 1.0),
        images_every_n_epochs: int = 10,
        num_samples: int = 16,
        seed: int = 0,
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self._wandb = import_extra("wandb", "wandb", "WandbLogger")
        super().__init__(
            examples=examples,
            image_shape=image_shape,
            value_range=value_range,
            images_every_n_epochs=images_every_n_epochs,
            num_samples=num_samples,
            seed=seed,
        )
        self.project = project
        self.name = name
        self.dir = None if dir is None else Path(dir)
        self.config = dict(config or {})
        self.mode = mode
        self.init_kwargs = dict(init_kwargs or {})
        self.run_id: str | None = None
        """The W&B run's id, once started (kept in checkpoints for a resume)."""
        self._run: Any = None

    def _open(self, trainer: TrainingLoop, resume_step: int | None) -> None:
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
        continuing = resume_step is not None and self.run_id is not None
        self._run = self._wandb.init(
            project=self.project,
            name=self.name,
            dir=None if self.dir is None else str(self.dir),
            config=self.config,
            mode=self.mode,
            id=self.run_id if continuing else None,
            resume="allow" if continuing else None,
            **self.init_kwargs,
        )
        self.run_id = str(self._run.id)

    def _scalars(self, step: int, values: Mapping[str, float]) -> None:
        self._run.log(dict(values), step=step)

    def _images(self, step: int, images: Mapping[str, npt.NDArray[np.uint8]]) -> None:
        self._run.log({tag: self._wandb.Image(image) for tag, image in images.items()}, step=step)

    def _close(self, failed: bool) -> None:
        run, self._run = self._run, None
        if run is not None:
            run.finish(exit_code=1 if failed else 0)

    def state_dict(self) -> dict[str, Any]:
        """The W&B run's id, so that a resumed fit continues the same run."""
        return {"run_id": self.run_id}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Take the run id a checkpoint kept."""
        run_id = state.get("run_id")
        self.run_id = None if run_id is None else str(run_id)
