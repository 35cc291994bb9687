"""The training state: everything one training step reads and changes."""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Int, PRNGKeyArray

from .._custom_types import Model, ModelState, OptState, Params, Weights
from ..frameworks._model_def import AbstractModelDef
from ._precision import DynamicLossScale
from ._step_options import StepOptions


class TrainState(eqx.Module):
    """Everything one training step reads and changes, as a pytree of arrays.

    `TrainStep.init` makes one and each `TrainStep` call returns the next. Every field but
    `definition` is an array or a pytree of arrays, so a state passes through `jax.jit`,
    `lax.scan` and `jax.vmap` (states of several seeds stack along a leading axis), and
    checkpoints save it as it is. `VAETrainer.state` returns one and
    `VAETrainer.load_state` takes one back.
    """

    params: Params
    """The trained parameters: for an Equinox model, the model with `None` in place of its
    untrained parts; for a Flax NNX model, the `nnx.State` of its `nnx.Param`s (the
    optimizer's `wrt`), holding plain arrays."""

    opt_state: OptState
    """The optax optimizer's state. For an NNX model trained through an `nnx.Optimizer`,
    the pair `(optax state, optimizer.step)`."""

    step: Int[Array, ""]
    """The number of the step the next call runs (an int32 scalar). Each step's noise key
    is `jax.random.fold_in(key, step)` and its KL weight the schedule's at `step`."""

    key: PRNGKeyArray
    """The base PRNG key of the steps' noise."""

    model_state: ModelState = None
    """The model's untrained arrays: an NNX model's RNG keys and counters and batch
    statistics; an Equinox model's integer arrays, if any, and the `eqx.nn.State` of a
    `WithState` model (BatchNorm's running statistics)."""

    skipped: Int[Array, ""] = eqx.field(default_factory=lambda: jnp.zeros((), jnp.int32))
    """How many steps were skipped because their loss or a gradient was not finite (an
    int32 scalar)."""

    ema_params: Params | None = None
    """The exponential moving average of `params` (in their structure), when the step
    keeps one (`ema_decay`); None otherwise."""

    loss_scale: DynamicLossScale | None = None
    """The dynamic loss scale of a float16 step (`precision="float16"`); None otherwise."""

    definition: AbstractModelDef | None = eqx.field(static=True, default=None)
    """The static part of the model, which `model` merges the arrays into (None in a state
    made by hand, say to save arrays with `CheckpointStore`)."""

    @property
    def model(self) -> Model:
        """The model with the current parameters: a new model object on each access.

        Raises:
            ValueError: for a state made by hand without a `definition`.
        """
        if self.definition is None:
            raise ValueError(
                "this TrainState has no model definition to rebuild the model from; "
                "TrainStep.init and the trainers make states that have one"
            )
        return self.definition.merge(self.params, self.model_state)

    @property
    def ema_model(self) -> Model:
        """The model with the averaged parameters (`ema_params`) and the current model
        state: a new model object on each access.

        Raises:
            ValueError: for a state without an average (made without `ema_decay`), or
                without a `definition`.
        """
        return self.model_with("ema")

    def model_with(self, weights: Weights) -> Model:
        """The model with the `"trained"` parameters (`model`) or their `"ema"`.

        Raises:
            ValueError: for `"ema"` on a state without an average, for a state without a
                `definition`, or for another `weights`.
        """
        if weights == "trained":
            return self.model
        if weights != "ema":
            raise ValueError(f"weights must be 'trained' or 'ema'; got {weights!r}")
        if self.ema_params is None:
            raise ValueError(
                "this TrainState keeps no average of the parameters; make it with "
                "ema_decay=... (TrainStep, VAETrainer, LossFnTrainer)"
            )
        if self.definition is None:
            raise ValueError("this TrainState has no model definition to rebuild the model from")
        return self.definition.merge(self.ema_params, self.model_state)


def initial_state(
    definition: AbstractModelDef,
    params: Params,
    model_state: ModelState,
    optimizer: optax.GradientTransformation,
    *,
    key: PRNGKeyArray,
    opt_state: OptState | None = None,
    options: StepOptions | None = None,
) -> TrainState:
    """The state at step 0 of a split model: `opt_state` as given, or a fresh one; an
    average of the parameters and a loss scale where `options` ask for them."""
    options = StepOptions() if options is None else options
    if opt_state is None:
        # optax is not clean under jax_numpy_dtype_promotion="strict" (adam's decay**count).
        with jax.numpy_dtype_promotion("standard"):
            opt_state = optimizer.init(params)
    # Two arrays, not one array twice: a step may donate the state's buffers.
    return TrainState(
        params=params,
        opt_state=opt_state,
        model_state=model_state,
        step=jnp.zeros((), jnp.int32),
        key=key,
        skipped=jnp.zeros((), jnp.int32),
        # A copy, not the same arrays: a step may donate both.
        ema_params=None if options.average is None else jax.tree.map(jnp.copy, params),
        loss_scale=options.initial_loss_scale,
        definition=definition,
    )
