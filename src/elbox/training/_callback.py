"""The callback base class: hooks the training loop calls, each doing nothing here."""

from collections.abc import Mapping
from typing import Any

from ._protocols import TrainingLoop


class Callback:
    """Hooks into `Trainer.fit`; override the ones you need (each does nothing here).

    The loop calls, in order: `setup` (before anything else, also before a resume);
    `restore` when resuming; `on_fit_start`; per epoch `on_epoch_start`, `on_step_end` for
    every step, `on_epoch_end` with the epoch's logs, then `on_epoch_complete` once every
    callback's `on_epoch_end` has run (checkpoints are written there, so they hold the
    state the other callbacks reached); `on_fit_end`; and finally `teardown`, which runs
    even when the fit ends with an error. An interrupted fit (`request_interrupt`) calls
    `on_interrupt` after its last finished step instead of ending the epoch, then
    `teardown`.

    Every hook receives the loop as a `TrainingLoop`: its `engine` (the trainer whose steps
    run), `history`, `epoch`, `epochs`, `request_stop(reason)` and so on.

    `on_step_end` receives each step's metrics as Python floats, in step order. They are
    read a few steps behind the device, so reading them never stalls the compiled steps.

    A callback stops training with `trainer.request_stop(reason)`; the loop finishes the
    current step (or fused dispatch) and epoch bookkeeping, then stops. Callbacks whose
    state must survive a resume implement `state_dict` and `load_state_dict` (JSON-ready
    values); checkpoints store them.
    """

    def setup(self, trainer: TrainingLoop) -> None:
        """Before anything else: check and open what the callback needs (folders, files)."""

    def restore(self, trainer: TrainingLoop) -> Mapping[str, Any] | None:
        """When resuming: load the newest saved state into `trainer.engine`, return its metadata.

        A callback that keeps checkpoints (`ModelCheckpoint`) implements this; the loop
        asks the first callback that does. Return None when there is nothing to resume
        from yet. The metadata is what `trainer.checkpoint_metadata(epoch)` gave when the
        checkpoint was written.
        """
        return None

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        """Before the first step (after a resume restored its state)."""

    def on_epoch_start(self, trainer: TrainingLoop, epoch: int) -> None:
        """Before the first step of `epoch` (counted from 0)."""

    def on_step_end(self, trainer: TrainingLoop, step: int, metrics: Mapping[str, float]) -> None:
        """After training step `step`, with its metrics."""

    def on_epoch_end(self, trainer: TrainingLoop, epoch: int, logs: Mapping[str, float]) -> None:
        """After `epoch`, with its logs: training means and validation metrics."""

    def on_epoch_complete(
        self, trainer: TrainingLoop, epoch: int, logs: Mapping[str, float]
    ) -> None:
        """After every callback's `on_epoch_end` for `epoch`."""

    def on_fit_end(self, trainer: TrainingLoop) -> None:
        """After the last epoch, or after a stop."""

    def on_interrupt(self, trainer: TrainingLoop) -> None:
        """When the fit is interrupted (`request_interrupt`), after its last finished step
        and before `fit` raises `FitInterruptedError`: save what must survive (`ModelCheckpoint`
        saves the state). The epoch is cut short: `on_epoch_end` does not run for it."""

    def teardown(self, trainer: TrainingLoop) -> None:
        """At the very end of a fit, also one that failed: close files, release resources."""

    def state_dict(self) -> dict[str, Any]:
        """The callback's state, JSON-ready, for checkpoints (empty: nothing to keep)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned."""
