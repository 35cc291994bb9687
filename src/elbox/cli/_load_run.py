"""Reading a run folder back: its options, data, and a `VAETrainer` at its best checkpoint."""

import dataclasses
from pathlib import Path
from typing import Any

from ..data import DataFile
from ..trainers._vae_trainer import VAETrainer
from ..training import CheckpointStore
from ._build import build_vae, saved_settings
from ._errors import RunError
from ._options import TrainOptions
from ._own_data import check_same_data, open_own_data
from ._resume import read_run_config
from ._run_files import MONITOR
from ._splits import Splits, load_splits


@dataclasses.dataclass(frozen=True)
class LoadedRun:
    """A run read back from its folder.

    Attributes:
        options: the options it was trained with.
        splits: its data.
        vae: a `VAETrainer` holding its best checkpoint.
        epoch: the epoch of that checkpoint (None when the checkpoint does not say).
    """

    options: TrainOptions
    splits: Splits
    vae: VAETrainer[Any]
    epoch: int | None


def load_run(folder: Path, *, data: DataFile | None = None) -> LoadedRun:
    """The run's options, data, and a VAETrainer holding its best checkpoint."""
    saved = read_run_config(folder)
    options = TrainOptions.from_json(saved["options"])
    if options.data is not None and data is None:
        data = open_own_data(options)
        check_same_data(saved.get("data"), data, folder)
    splits = load_splits(options, data=data, folder=folder)
    vae, _ = build_vae(options, splits.image_shape, *saved_settings(saved, options))
    checkpoints = folder / "checkpoints"
    if not checkpoints.is_dir():
        raise RunError(f"{folder} holds no checkpoints")
    with CheckpointStore(checkpoints, monitor=MONITOR, mode="min") as store:
        state, metadata, _ = store.restore(vae.state, which="best")
    vae.load_state(state)
    epoch = metadata.get("epoch")
    return LoadedRun(options, splits, vae, None if epoch is None else int(epoch))
