"""The callback protocol: hooks the training loop calls, and a way to ask it to stop."""

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._trainer import Trainer


class Callback:
    """Hooks into `Trainer.fit`; override the ones you need (each does nothing here).

    The loop calls, in order: `on_fit_start`; per epoch `on_epoch_start`, `on_step_end`
    for every step, `on_epoch_end` with the epoch's logs, then `on_epoch_complete` once
    every callback's `on_epoch_end` has run (checkpoints are written there, so they hold
    the state the other callbacks reached); finally `on_fit_end`.

    `on_step_end` receives each step's metrics as Python floats, in step order. They are
    read a few steps behind the device, so reading them never stalls the compiled steps.

    A callback stops training with `trainer.request_stop(reason)`; the loop finishes the
    current step (or fused dispatch) and epoch bookkeeping, then stops. Callbacks whose
    state must survive a resume implement `state_dict` and `load_state_dict` (JSON-ready
    values); checkpoints store them.
    """

    def on_fit_start(self, trainer: "Trainer") -> None:
        """Before the first step (after a resume restored its state)."""

    def on_epoch_start(self, trainer: "Trainer", epoch: int) -> None:
        """Before the first step of `epoch` (counted from 0)."""

    def on_step_end(self, trainer: "Trainer", step: int, metrics: Mapping[str, float]) -> None:
        """After training step `step`, with its metrics."""

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: Mapping[str, float]) -> None:
        """After `epoch`, with its logs: training means and validation metrics."""

    def on_epoch_complete(self, trainer: "Trainer", epoch: int, logs: Mapping[str, float]) -> None:
        """After every callback's `on_epoch_end` for `epoch`."""

    def on_fit_end(self, trainer: "Trainer") -> None:
        """After the last epoch, or after a stop."""

    def state_dict(self) -> dict[str, Any]:
        """The callback's state, JSON-ready, for checkpoints (empty: nothing to keep)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned."""


class MonitorWarner:
    """Warns once when a monitored metric is missing, naming the metrics that exist."""

    def __init__(self, owner: str, monitor: str) -> None:
        self._owner = owner
        self.monitor = monitor
        self._warned = False

    def value(self, logs: Mapping[str, float]) -> float | None:
        """`logs[monitor]`, or None (after one warning) when it is missing."""
        if self.monitor in logs:
            return logs[self.monitor]
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"{self._owner} monitors {self.monitor!r}, which is not among the epoch's "
                f"metrics {sorted(logs)}; it does nothing until that metric appears "
                "(validation metrics need val_data)",
                UserWarning,
                stacklevel=4,
            )
        return None
