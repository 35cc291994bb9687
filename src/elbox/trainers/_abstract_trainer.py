"""`AbstractTrainer`: what every stateful trainer offers, through the engine it owns."""

import abc
from typing import Any, Generic

from jax.sharding import Mesh
from jaxtyping import Array, Float, PRNGKeyArray

from .._custom_types import Batch, Metrics, Model, ModelT, NonFinite, StepLike, Weights
from ..core._train_state import TrainState
from ._engine import Engine
from ._loop_steps import LoopSteps


class AbstractTrainer(abc.ABC, Generic[ModelT]):
    """A model and its optimizer, trained in place by the functional core's `TrainStep`.

    A trainer owns an `Engine` (its `engine`), which holds the training state (for an NNX
    model, in the user's own Variables), the step counter and the compiled steps; the
    trainer builds the `TrainStep`s the engine runs. `VAETrainer` (the annealed ELBO) and
    `LossFnTrainer` (any `make_loss_fn(step)`) are the two; the state, the step counter
    and data parallelism read and act on the engine.
    """

    engine: Engine
    """The engine that holds the training state and runs the compiled steps."""

    # -- the state, held by the engine -----------------------------------------------

    @property
    def model(self) -> ModelT:
        """The model with the current parameters (for NNX, the object you passed in)."""
        model: ModelT = self.engine.model
        return model

    @property
    def ema_model(self) -> Model:
        """The model with the exponential moving average of the parameters (a new Equinox
        model, or for NNX a copy of the model object holding the average).

        Raises:
            ValueError: when the trainer keeps no average (it was made without
                `ema_decay`).
        """
        if self.engine.options.average is None:
            raise ValueError(
                "this trainer keeps no average of the parameters; make it with ema_decay=..."
            )
        return self.engine.ema_model

    @property
    def step(self) -> int:
        """The step the next `train_step` runs when called without `step`."""
        return self.engine.step

    @property
    def key(self) -> PRNGKeyArray:
        """The base PRNG key; step `s` draws its noise from `fold_in(key, s)`."""
        return self.engine.key

    @property
    def nonfinite(self) -> NonFinite:
        """What a step with a non-finite loss or gradient does (see the constructor)."""
        return self.engine.nonfinite

    @property
    def state(self) -> TrainState:
        """The training state: parameters, optimizer state, step, key, skipped steps."""
        return self.engine.state

    def load_state(self, state: TrainState) -> None:
        """Continue from `state`, e.g. one restored from a checkpoint, key included.

        Raises:
            ValueError: if its structure, shapes or dtypes differ from this trainer's model
                and optimizer.
        """
        self.engine.load_state(state)

    @property
    def mesh(self) -> Mesh | None:
        """The mesh the steps run on, data-parallel; None on one device."""
        return self.engine.mesh

    def distribute(self, mesh: Mesh, *, data_axis: str | None = None) -> None:
        """Train data-parallel over `mesh` from now on (see `Engine.distribute`).

        Raises:
            ValueError: when `data_axis` is not an axis of `mesh`.
        """
        self.engine.distribute(mesh, data_axis=data_axis)

    # -- what each trainer supplies ----------------------------------------------------

    @abc.abstractmethod
    def train_step(
        self, batch: Batch, *, step: StepLike | None = None
    ) -> tuple[Float[Array, ""], Metrics]:
        """One optimisation step on `batch`: `(loss, metrics)`."""

    @abc.abstractmethod
    def train_steps(
        self, batches: Batch, *, step: StepLike | None = None
    ) -> tuple[Float[Array, " steps"], dict[str, Float[Array, " steps"]]]:
        """K steps in one dispatch on batches stacked along a leading axis."""

    @abc.abstractmethod
    def evaluate(
        self, batch: Batch, *, step: StepLike | None = None, weights: Weights = "trained"
    ) -> Metrics:
        """Validation metrics on `batch` at `step`, with the `"trained"` parameters or
        their `"ema"`, updating nothing."""

    @abc.abstractmethod
    # Any: each trainer takes its own kind of loss (a VAETrainer's LossType; none at all).
    def loop_steps(self, *, loss_type: Any = None, donate: bool = True) -> LoopSteps:
        """The engine and steps `Trainer.fit` runs, with its options bound.

        Args:
            loss_type: the reconstruction loss (for a `VAETrainer`; None for its default).
            donate: donate the state's buffers to each step (the loop owns the state
                between steps, so it does by default).

        Raises:
            TypeError: for an option this trainer does not take.
        """
