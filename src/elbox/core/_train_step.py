"""`TrainStep`: one training step, from a batch to the next `TrainState`, as a pure function.

Everything a step does is in `TrainStep.__call__`: the loss and its gradient with respect
to the trained parameters, the non-finite guard, and the optimizer update.
"""

import functools
from typing import TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._custom_types import (
    Batch,
    LossFn,
    LossFnFactory,
    Metrics,
    Model,
    ModelState,
    NonFinite,
    Params,
    StepLike,
)
from .._dtypes import float_dtype
from .._validation import checked_choice
from ..frameworks._seam import framework_of
from ..objectives._objective import AbstractObjective, step_key
from ._train_state import TrainState, initial_state

NONFINITE_CHOICES = ("skip", "raise", "apply")


_Tree = TypeVar("_Tree")


def _all_finite(loss: Float[Array, ""], grads: Params) -> Bool[Array, ""]:
    finite = [jnp.isfinite(loss)] + [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]
    return functools.reduce(jnp.logical_and, finite)


def _keep_unless(ok: Bool[Array, ""], new: _Tree, old: _Tree) -> _Tree:
    """`new` where `ok`, else `old`, leaf by leaf: bit for bit the old arrays when not `ok`."""
    kept: _Tree = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)
    return kept


class TrainStep(eqx.Module):
    """One training step as a pure function: `state, metrics = train_step(state, batch)`.

    Minimises an objective (such as `VAETrainer.objective(...)` or any
    `AbstractObjective`) or the loss of a `make_loss_fn(step)` factory, with an optax
    optimizer. It holds no state: `init` makes a `TrainState` and each call returns the
    next, so a step composes with `jax.jit`, `lax.scan` (several steps in one dispatch)
    and `jax.vmap` (several seeds at once, over states stacked along a leading axis).

    A step computes the loss and its gradient with respect to `state.params`, then the
    optimizer's update. When the loss or a gradient is not finite, `nonfinite` decides:

    - `"skip"` (the default): the parameters, optimizer state and model state stay bit
      for bit as they were, `state.skipped` counts the step and the metric `skipped` is 1;
    - `"raise"`: the same here (a pure function cannot raise on a value it computes);
      the stateful trainers raise `NonFiniteStepError` after such a step;
    - `"apply"`: the update is applied anyway, and there is no `skipped` metric.

    Either way the step counter advances.

    Args:
        loss: an `AbstractObjective`, called with the step and the step's key
            `fold_in(state.key, state.step)`; or a factory `make_loss_fn(step) ->
            loss_fn(model, batch) -> (loss, metrics)`, called with the traced step.
        optimizer: an optax `GradientTransformation`.
        nonfinite: `"skip"`, `"raise"` or `"apply"`.

    Example:
        >>> import jax, jax.numpy as jnp, optax
        >>> from elbox import ELBOObjective, ConstantSchedule, TrainStep
        >>> from elbox.models.equinox import MLPVAE
        >>> objective = ELBOObjective(schedule=ConstantSchedule(1.0))
        >>> train_step = TrainStep(objective, optax.adam(1e-2))
        >>> model = MLPVAE(8, hidden=16, latent=2, key=jax.random.key(0))
        >>> state = train_step.init(model, key=jax.random.key(1))
        >>> step = jax.jit(train_step)
        >>> for _ in range(3):
        ...     state, metrics = step(state, jnp.full((4, 8), 0.5))
        >>> int(state.step), sorted(metrics)
        (3, ['kl_loss', 'kl_weight', 'loss', 'recon_loss', 'skipped'])
    """

    loss: AbstractObjective | LossFnFactory
    optimizer: optax.GradientTransformation
    nonfinite: NonFinite = eqx.field(static=True)

    def __init__(
        self,
        loss: AbstractObjective | LossFnFactory,
        optimizer: optax.GradientTransformation,
        *,
        nonfinite: NonFinite = "skip",
    ) -> None:
        if not isinstance(loss, AbstractObjective) and not callable(loss):
            raise TypeError(
                "loss must be an elbox objective or a callable step -> loss_fn(model, batch); "
                f"got {type(loss).__name__}"
            )
        if not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(
                f"optimizer must be an optax.GradientTransformation; got {type(optimizer).__name__}"
            )
        self.loss = loss
        self.optimizer = optimizer
        checked_choice("", "nonfinite", nonfinite, NONFINITE_CHOICES)
        self.nonfinite = nonfinite

    def init(self, model: Model, *, key: PRNGKeyArray, trainable: object = None) -> TrainState:
        """The state before the first step: the model's arrays and a fresh optimizer state.

        Args:
            model: an Equinox `eqx.Module` or a Flax NNX `nnx.Module` (read, not changed;
                `state.model` rebuilds it).
            key: the base PRNG key of the steps' noise.
            trainable: which arrays are trained: a filter function for an Equinox model
                (default `eqx.is_inexact_array`, every floating-point array), an `nnx`
                filter for an NNX one (default `nnx.Param`).

        Returns:
            A `TrainState` at step 0. It holds the model's own arrays (and `key`), not
            copies: a step that donates the state's buffers deletes them, so keep a copy
            of the model if you need it afterwards.
        """
        definition, params, model_state = framework_of(model).split(model, trainable)
        return initial_state(definition, params, model_state, self.optimizer, key=key)

    def loss_fn(self, step: StepLike, key: PRNGKeyArray) -> LossFn:
        """`loss_fn(model, batch) -> (loss, metrics)` at `step`, drawing noise from `key`."""
        if isinstance(self.loss, AbstractObjective):
            return self.loss.loss_fn(step, key)
        return self.loss(step)

    def __call__(self, state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        """One step on `batch`: the next state and this step's metrics.

        The metrics are the loss function's, with `loss` set to the loss that was
        minimised and, unless `nonfinite="apply"`, `skipped` (1.0 for a skipped step).
        """
        definition = state.definition
        if definition is None:
            raise ValueError("TrainStep needs a state made by TrainStep.init (it has a model)")
        loss_fn = self.loss_fn(state.step, step_key(state.key, state.step))

        def loss_of(params: Params) -> tuple[Float[Array, ""], tuple[Metrics, ModelState]]:
            model = definition.merge(params, state.model_state)
            loss, metrics = loss_fn(model, batch)
            # An NNX model advances its RNG counters (and batch statistics) as it runs.
            return loss, (metrics, definition.model_state_of(model))

        grad_fn = jax.value_and_grad(loss_of, has_aux=True)
        (loss, (metrics, model_state)), grads = grad_fn(state.params)
        with jax.numpy_dtype_promotion("standard"):  # optax is not strict-promotion clean
            updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = eqx.apply_updates(state.params, updates)
        metrics = {**metrics, "loss": loss}
        skipped = state.skipped
        if self.nonfinite != "apply":
            finite = _all_finite(loss, grads)
            params, opt_state, model_state = _keep_unless(
                finite,
                (params, opt_state, model_state),
                (state.params, state.opt_state, state.model_state),
            )
            skipped = skipped + jnp.where(finite, 0, 1).astype(jnp.int32)
            metrics["skipped"] = jnp.where(finite, 0.0, 1.0).astype(float_dtype())
        next_state = TrainState(
            params=params,
            opt_state=opt_state,
            model_state=model_state,
            step=state.step + 1,
            key=state.key,
            skipped=skipped,
            definition=definition,
        )
        return next_state, metrics

    def evaluate(self, state: TrainState, batch: Batch) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` of `state`'s model on `batch` at `state.step`, changing nothing."""
        loss_fn = self.loss_fn(state.step, step_key(state.key, state.step))
        return loss_fn(state.model, batch)
