"""Checkpoints at epoch ends, on orbax-checkpoint, with the best kept by a metric."""

import dataclasses
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, final, no_type_check

from .._file_lock import FolderInUseError, FolderLock
from .._sharding import is_primary_process
from .._validation import checked_choice, checked_int
from ._callback import Callback
from ._checkpoint import CheckpointError, CheckpointStore
from ._monitor import MonitorWarner
from ._protocols import TrainingLoop


# `__post_init__` validates the fields with ValueErrors that name them; `no_type_check` keeps
# the test suite's jaxtyping import hook from pre-empting those messages.
@no_type_check
@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    """Where and when `ModelCheckpoint` saves.

    Attributes:
        dirpath: the checkpoint folder (created if needed).
        monitor: the epoch metric that ranks checkpoints, e.g. `"val_loss"`; `None` keeps
            only the latest ones.
        mode: `"min"` when lower is better, `"max"` when higher is.
        save_top_k: how many of the best checkpoints to keep (`None`: all).
        every_n_epochs: save after every n-th epoch (and after the last one).
        keep_latest: how many of the newest checkpoints to keep besides the best, for
            resuming (two, so a damaged newest one leaves a fallback).

    Example:
        >>> from elbox.training import CheckpointConfig
        >>> CheckpointConfig(dirpath="checkpoints", monitor="val_loss").save_top_k
        1
    """

    dirpath: str | os.PathLike[str] = "checkpoints"
    monitor: str | None = None
    mode: Literal["min", "max"] = "min"
    save_top_k: int | None = 1
    every_n_epochs: int = 1
    keep_latest: int = 2

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.monitor is not None and (not isinstance(self.monitor, str) or not self.monitor):
            raise ValueError(f"{owner}.monitor must be a metric name or None; got {self.monitor!r}")
        checked_choice(owner, "mode", self.mode, ("min", "max"))
        if self.save_top_k is not None:
            object.__setattr__(
                self, "save_top_k", checked_int(owner, "save_top_k", self.save_top_k, 1)
            )
        for name in ("every_n_epochs", "keep_latest"):
            object.__setattr__(self, name, checked_int(owner, name, getattr(self, name), 1))


LOCK_FILE = ".elbox-checkpoints.lock"
"""The file in a checkpoint folder whose OS lock marks the folder's one writer."""


@final
class ModelCheckpoint(Callback):
    """Saves a checkpoint after every n-th epoch; resuming a fit starts from the latest.

    A checkpoint holds everything an exact resume needs: the model and optimizer state,
    the step counter and PRNG key, the epoch, every callback's state, the history and the
    VAE config. The folder is checked for writing before training starts. When the fit is
    interrupted (`Trainer.request_interrupt`), the state of the last finished step is
    saved too, unranked (it has no validation metric), so that a resume loses no step.

    One writer per folder: from `setup` to `teardown` the callback holds an OS lock on
    the folder (the file `.elbox-checkpoints.lock` in it), so a second fit writing to the
    same folder, from this process or another, fails at once with a `CheckpointError`
    naming the holder's process id, and the first one is left untouched. The kernel
    releases the lock when the holder exits, however it ends (SIGKILL included), so a
    killed run's folder is free for the `fit(..., resume=True)` that continues it. With
    several processes only process 0 takes the lock.

    Example:
        >>> from elbox.training import CheckpointConfig, ModelCheckpoint
        >>> config = CheckpointConfig(dirpath="checkpoints", monitor="val_loss")
        >>> callback = ModelCheckpoint(config)
        >>> callback.config.mode
        'min'
    """

    def __init__(self, config: CheckpointConfig | None = None) -> None:
        self.config = CheckpointConfig() if config is None else config
        self._store: CheckpointStore | None = None
        self._monitor = (
            None
            if self.config.monitor is None
            else MonitorWarner("ModelCheckpoint", self.config.monitor)
        )
        self._lock = FolderLock(self.dirpath, name=LOCK_FILE, what="the checkpoint folder")

    @property
    def dirpath(self) -> Path:
        """The checkpoint folder."""
        return Path(self.config.dirpath)

    @property
    def store(self) -> CheckpointStore:
        """The checkpoint store, opened (and the folder checked) on first use."""
        if self._store is None:
            self._store = CheckpointStore(
                self.config.dirpath,
                monitor=self.config.monitor,
                mode=self.config.mode,
                # Without a monitor there is nothing to rank: keep the latest only.
                save_top_k=None if self.config.monitor is None else self.config.save_top_k,
                keep_latest=self.config.keep_latest,
            )
        return self._store

    @property
    def best_step(self) -> int | None:
        """The step of the best checkpoint by the monitored metric, if any."""
        return self.store.best_step()

    def setup(self, trainer: TrainingLoop) -> None:
        if is_primary_process():
            self._lock_folder()
        self.store  # noqa: B018  # opens the store: an unwritable folder fails before training

    def _lock_folder(self) -> None:
        # Before the store opens: opening tidies the folder, which only its writer may do.
        try:
            self.dirpath.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except FolderInUseError as error:
            raise CheckpointError(str(error)) from None
        except OSError as error:
            raise CheckpointError(
                f"the checkpoint folder {self.dirpath.absolute()} cannot be created or "
                f"written to: {error.strerror or error}"
            ) from error

    def restore(self, trainer: TrainingLoop) -> Mapping[str, Any] | None:
        """Load the latest checkpoint into `trainer.engine`; None (and a warning) if none."""
        store = self.store
        if store.latest_step() is None:
            warnings.warn(
                f"resume=True but {self.dirpath} holds no checkpoint yet; "
                "training starts from scratch",
                UserWarning,
                stacklevel=4,
            )
            return None
        state, metadata, _ = store.restore(trainer.engine.state, which="latest")
        trainer.engine.load_state(state)
        return metadata

    def on_epoch_complete(
        self, trainer: TrainingLoop, epoch: int, logs: Mapping[str, float]
    ) -> None:
        last = trainer.should_stop or epoch + 1 == trainer.epochs
        if (epoch + 1) % self.config.every_n_epochs and not last:
            return
        metrics = None
        if self._monitor is not None:
            value = self._monitor.value(logs)
            if value is not None:
                metrics = {self._monitor.monitor: value}
        self.store.save(
            trainer.engine.step,
            trainer.engine.state,
            metadata=trainer.checkpoint_metadata(epoch),
            metrics=metrics,
        )

    def on_interrupt(self, trainer: TrainingLoop) -> None:
        """Save the state of the last finished step, unless a checkpoint already holds it."""
        store, step = self.store, trainer.engine.step
        latest = store.latest_step()
        if latest is not None and latest >= step:
            return
        self.store.save(
            step, trainer.engine.state, metadata=trainer.checkpoint_metadata(trainer.epoch)
        )

    def teardown(self, trainer: TrainingLoop) -> None:
        self.close()

    def close(self) -> None:
        """Finish pending saves, release the store and the folder's lock (`teardown` calls
        it, even on errors)."""
        try:
            if self._store is not None:
                self._store.close()
                self._store = None
        finally:
            self._lock.release()
