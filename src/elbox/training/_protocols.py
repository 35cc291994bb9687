"""What callbacks see of the training loop (`TrainingLoop`): a protocol, so that the loop
and its callbacks need not import one another."""

from typing import Any, Protocol, runtime_checkable

from ..trainers._engine import Engine
from ._history import History


@runtime_checkable
class TrainingLoop(Protocol):
    """What a callback sees of the loop that calls it (`Trainer` is one).

    Attributes:
        engine: the `Engine` whose state the steps train (its `model`, `state`, `step`).
        history: the metrics recorded so far.
        epoch: the current epoch, from 0.
        epochs: the total number of epochs.
        steps_per_epoch: the number of batches per epoch, None when the data has no length.
        should_stop: whether a stop was requested.
        stop_reason: why, if so.
        resumed_from: `(epoch, step)` of the checkpoint this fit resumed from, if it did.
    """

    engine: Engine
    history: History
    epoch: int
    epochs: int
    steps_per_epoch: int | None
    should_stop: bool
    stop_reason: str | None
    resumed_from: tuple[int, int] | None

    def request_stop(self, reason: str) -> None:
        """Stop after the current step and epoch bookkeeping."""
        ...

    def checkpoint_metadata(self, epoch: int) -> dict[str, Any]:
        """What a checkpoint written after `epoch` stores besides the arrays."""
        ...
