"""Reading a run folder back: its options, data, and a `VAETrainer` at its best checkpoint."""

import dataclasses
from pathlib import Path
from typing import Any

from .._custom_types import Model, Weights
from ..data import DataFile
from ..frameworks._seam import framework_of
from ..trainers._vae_trainer import VAETrainer
from ..training import CheckpointStore
from ._build import build_vae, saved_settings
from ._errors import RunError
from ._options import STANDARD_DATASETS, TrainOptions
from ._own_data import check_same_data, open_own_data
from ._resume import read_run_config
from ._run_files import monitor_of, weights_of
from ._splits import Splits, load_splits


@dataclasses.dataclass(frozen=True)
class LoadedRun:
    """A run read back from its folder.

    Attributes:
        options: the options it was trained with.
        splits: its data.
        vae: a `VAETrainer` holding its best checkpoint.
        epoch: the epoch of that checkpoint (None when the checkpoint does not say).
        weights: the parameters evaluation and plots use: `"ema"` for a run with
            --ema-decay (unless asked otherwise), else `"trained"`.
    """

    options: TrainOptions
    splits: Splits
    vae: VAETrainer[Any]
    epoch: int | None
    weights: Weights = "trained"

    @property
    def model(self) -> Model:
        """The model of `weights`, as evaluation runs it (an Equinox model in inference
        mode: BatchNorm on its running statistics)."""
        model = self.vae.model if self.weights == "trained" else self.vae.ema_model
        return framework_of(model).inference(model)


@dataclasses.dataclass(frozen=True)
class DataPlace:
    """Where `elbox eval` and `elbox plot` find a run's standard data set now, when not
    where it was trained: `--data-dir` and `--no-download`."""

    data_dir: Path | None = None
    no_download: bool = False


def _moved(options: TrainOptions, place: DataPlace) -> TrainOptions:
    """The run's options with its standard data set where `place` says."""
    if (place.data_dir is not None or place.no_download) and (
        options.data is not None or options.dataset not in STANDARD_DATASETS
    ):
        data = options.dataset if options.data is None else str(options.data)
        raise RunError(
            f"--data-dir and --no-download apply to runs on a standard data set; this run "
            f"trained on {data}"
        )
    changes: dict[str, Any] = {}
    if place.data_dir is not None:
        changes["data_dir"] = place.data_dir.expanduser().absolute()
    if place.no_download:
        changes["no_download"] = True
    return dataclasses.replace(options, **changes)


def load_run(
    folder: Path,
    *,
    data: DataFile | None = None,
    place: DataPlace | None = None,
    weights: Weights | None = None,
) -> LoadedRun:
    """The run's options, data, and a VAETrainer holding its best checkpoint; `place` says
    where its standard data set is now, if it moved; `weights` chooses the parameters to
    evaluate (default: the average for a run with one)."""
    saved = read_run_config(folder)
    options = TrainOptions.from_json(saved["options"])
    if weights == "ema" and options.ema_decay is None:
        raise RunError(
            f"--weights ema: {folder} was trained without --ema-decay, so it has no average "
            "of the weights; use --weights trained"
        )
    if place is not None:
        options = _moved(options, place)
    if options.data is not None and data is None:
        data = open_own_data(options)
        check_same_data(saved.get("data"), data, folder)
    splits = load_splits(options, data=data, folder=folder)
    vae, _ = build_vae(options, splits.image_shape, *saved_settings(saved, options))
    checkpoints = folder / "checkpoints"
    if not checkpoints.is_dir():
        raise RunError(f"{folder} holds no checkpoints")
    monitor = monitor_of(options.ema_decay)
    with CheckpointStore(checkpoints, monitor=monitor, mode="min") as store:
        state, metadata, _ = store.restore(vae.state, which="best")
    vae.load_state(state)
    epoch = metadata.get("epoch")
    if weights is None:
        weights = weights_of(options.ema_decay)
    return LoadedRun(options, splits, vae, None if epoch is None else int(epoch), weights)
