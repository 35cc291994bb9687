"""The two faces of the training loop: what it drives (`Engine`) and what callbacks see
(`TrainingLoop`). Both are protocols, so the loop, its callbacks and the trainers need not
import one another."""

from typing import Any, Protocol, runtime_checkable

from jax.sharding import Mesh

from ..core._train_state import TrainState
from ..trainers._loop_steps import LoopSteps
from ._history import History


@runtime_checkable
class Engine(Protocol):
    """What `Trainer.fit` drives: a trainer holding a `TrainState`, such as `VAETrainer`
    or `LossFnTrainer`."""

    @property
    def step(self) -> int:
        """The step the next training step runs."""
        ...

    @property
    def model(self) -> Any:
        """The model with the current parameters."""
        ...

    @property
    def state(self) -> TrainState:
        """The training state, for checkpoints."""
        ...

    def load_state(self, state: TrainState) -> None:
        """Continue from `state`."""
        ...

    def distribute(self, mesh: Mesh, *, data_axis: str | None = None) -> None:
        """Train data-parallel over `mesh`."""
        ...

    def loop_steps(self, *, loss_type: Any = None, donate: bool = True) -> LoopSteps:
        """The step functions the loop calls, with its options bound."""
        ...


@runtime_checkable
class TrainingLoop(Protocol):
    """What a callback sees of the loop that calls it (`Trainer` is one).

    Attributes:
        engine: the trainer whose steps run.
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
