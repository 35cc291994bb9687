"""`TrainStep`: one training step, from a batch to the next `TrainState`, as a pure function.

Everything a step does is in `TrainStep.__call__`: the loss and its gradient with respect
to the trained parameters (over micro-batches when it accumulates, in the precision of its
policy), the non-finite guard, the optimizer update, and the average of the parameters.
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
    Weights,
)
from .._dtypes import float_dtype
from .._validation import checked_choice
from ..frameworks._model_def import AbstractModelDef
from ..frameworks._seam import framework_of
from ..objectives._objective import AbstractObjective, step_key
from ._precision import PrecisionName, PrecisionPolicy, cast_floating, cast_like
from ._step_options import StepOptions
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


def micro_batches(batch: Batch, count: int) -> Batch:
    """`batch` split into `count` micro-batches stacked on a new leading axis: micro-batch
    `j` holds examples `j, j + count, j + 2 count, ...` (strided, so that on a mesh each
    one is spread over every device)."""

    def split(leaf: Array) -> Array:
        leaf = jnp.asarray(leaf)
        if leaf.ndim == 0 or leaf.shape[0] % count:
            size = "a scalar" if leaf.ndim == 0 else f"{leaf.shape[0]} examples"
            raise ValueError(
                f"accumulate={count} splits each batch into {count} equal micro-batches; "
                f"this batch has {size}: give batches of a multiple of {count} examples"
            )
        return jnp.swapaxes(leaf.reshape(leaf.shape[0] // count, count, *leaf.shape[1:]), 0, 1)

    split_batch: Batch = jax.tree.map(split, batch)
    return split_batch


class TrainStep(eqx.Module):
    """One training step as a pure function: `state, metrics = train_step(state, batch)`.

    Minimises an objective (such as `VAETrainer.objective(...)` or any
    `AbstractObjective`) or the loss of a `make_loss_fn(step)` factory, with an optax
    optimizer. It holds no state: `init` makes a `TrainState` and each call returns the
    next, so a step composes with `jax.jit`, `lax.scan` (several steps in one dispatch)
    and `jax.vmap` (several seeds at once, over states stacked along a leading axis).

    A step computes the loss and its gradient with respect to `state.params`, then the
    optimizer's update. When the loss or a gradient is not finite, `nonfinite` decides:

    - `"skip"` (the default): the parameters, optimizer state, model state, average and
      (float16) loss scale stay bit for bit as they were, except that the loss scale is
      lowered; `state.skipped` counts the step and the metric `skipped` is 1;
    - `"raise"`: the same here (a pure function cannot raise on a value it computes);
      the stateful trainers raise `NonFiniteStepError` after such a step;
    - `"apply"`: the update is applied anyway, and there is no `skipped` metric.

    Either way the step counter advances. One call is one optimizer update, and
    `state.step` counts updates: the KL schedule, the noise keys and the average's
    warm-up all see the update count, whatever `accumulate` is.

    Args:
        loss: an `AbstractObjective`, called with the step and the step's key
            `fold_in(state.key, state.step)`; or a factory `make_loss_fn(step) ->
            loss_fn(model, batch) -> (loss, metrics)`, called with the traced step.
        optimizer: an optax `GradientTransformation`.
        nonfinite: `"skip"`, `"raise"` or `"apply"`.
        ema_decay: keep an exponential moving average of the parameters in
            `state.ema_params`, with this decay (see `ema_warmup`); None keeps none.
            The update is one pass over the parameters, after each applied update.
        ema_warmup: average with decay `min(ema_decay, (1 + t) / (10 + t))` at step `t`
            (TensorFlow's warm-up), rather than `ema_decay` from the first step. The
            average starts as the initial parameters either way (no bias correction).
        accumulate: split each batch into this many micro-batches (examples `j, j + k,
            ...` in micro-batch `j`), run them one after another (`lax.scan`: the memory
            of one micro-batch) and apply one update with the mean of their gradients,
            equal up to rounding to one step on the whole batch with the same noise. The
            non-finite guard sees the accumulated gradient; the metrics are the means over
            the micro-batches; micro-batch `j` draws its noise from
            `fold_in(step key, j)`; a model's state (BatchNorm statistics) advances
            micro-batch by micro-batch.
        precision: `"float32"` (the default: no casting), `"bfloat16"`, `"float16"`
            (with dynamic loss scaling; needs `nonfinite="skip"`), or a
            `PrecisionPolicy`.

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
    options: StepOptions = eqx.field(static=True)

    def __init__(
        self,
        loss: AbstractObjective | LossFnFactory,
        optimizer: optax.GradientTransformation,
        *,
        nonfinite: NonFinite = "skip",
        ema_decay: float | None = None,
        ema_warmup: bool = True,
        accumulate: int = 1,
        precision: PrecisionName | PrecisionPolicy = "float32",
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
        self.options = StepOptions.checked(
            ema_decay=ema_decay,
            ema_warmup=ema_warmup,
            accumulate=accumulate,
            precision=precision,
            nonfinite=nonfinite,
        )

    def init(self, model: Model, *, key: PRNGKeyArray, trainable: object = None) -> TrainState:
        """The state before the first step: the model's arrays and a fresh optimizer state.

        Args:
            model: an Equinox `eqx.Module` (a stateful one as `WithState(model, state)`)
                or a Flax NNX `nnx.Module` (read, not changed; `state.model` rebuilds it).
            key: the base PRNG key of the steps' noise.
            trainable: which arrays are trained: a filter function for an Equinox model
                (default `eqx.is_inexact_array`, every floating-point array), an `nnx`
                filter for an NNX one (default `nnx.Param`).

        Returns:
            A `TrainState` at step 0, with a copy of the parameters as their average
            (with `ema_decay`) and the initial loss scale (float16). It holds the model's
            own arrays (and `key`), not copies: a step that donates the state's buffers
            deletes them, so keep a copy of the model if you need it afterwards.
        """
        definition, params, model_state = framework_of(model).split(model, trainable)
        return initial_state(
            definition, params, model_state, self.optimizer, key=key, options=self.options
        )

    def loss_fn(self, step: StepLike, key: PRNGKeyArray) -> LossFn:
        """`loss_fn(model, batch) -> (loss, metrics)` at `step`, drawing noise from `key`."""
        if isinstance(self.loss, AbstractObjective):
            return self.loss.loss_fn(step, key)
        return self.loss(step)

    def __call__(self, state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        """One step on `batch`: the next state and this step's metrics.

        The metrics are the loss function's, with `loss` set to the loss that was
        minimised and, unless `nonfinite="apply"`, `skipped` (1.0 for a skipped step);
        under float16, `loss_scale` (the scale this step used).
        """
        definition = state.definition
        if definition is None:
            raise ValueError("TrainStep needs a state made by TrainStep.init (it has a model)")
        options = self.options
        key = step_key(state.key, state.step)
        if options.accumulate == 1:
            loss, metrics, model_state, grads = self._gradient(
                definition, state, state.model_state, batch, key
            )
        else:
            loss, metrics, model_state, grads = self._accumulated_gradient(
                definition, state, batch, key
            )
        with jax.numpy_dtype_promotion("standard"):  # optax is not strict-promotion clean
            updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = eqx.apply_updates(state.params, updates)
        ema_params = state.ema_params
        if options.average is not None:
            ema_params = options.average.updated(state.ema_params, params, state.step)
        metrics = {**metrics, "loss": loss}
        skipped, loss_scale = state.skipped, state.loss_scale
        if self.nonfinite != "apply":
            finite = _all_finite(loss, grads)
            params, opt_state, model_state, ema_params = _keep_unless(
                finite,
                (params, opt_state, model_state, ema_params),
                (state.params, state.opt_state, state.model_state, state.ema_params),
            )
            skipped = skipped + jnp.where(finite, 0, 1).astype(jnp.int32)
            metrics["skipped"] = jnp.where(finite, 0.0, 1.0).astype(float_dtype())
            if loss_scale is not None:
                metrics["loss_scale"] = loss_scale.scale.astype(float_dtype())
                loss_scale = loss_scale.adjusted(finite, options.precision.growth_interval)
        next_state = TrainState(
            params=params,
            opt_state=opt_state,
            model_state=model_state,
            step=state.step + 1,
            key=state.key,
            skipped=skipped,
            ema_params=ema_params,
            loss_scale=loss_scale,
            definition=definition,
        )
        return next_state, metrics

    def _gradient(
        self,
        definition: AbstractModelDef,
        state: TrainState,
        model_state: ModelState,
        batch: Batch,
        key: PRNGKeyArray,
    ) -> tuple[Float[Array, ""], Metrics, ModelState, Params]:
        """`(loss, metrics, model state after, gradient)` of one batch at `state.params`,
        under the precision policy (the gradient unscaled)."""
        loss_fn = self.loss_fn(state.step, key)
        compute = self.options.precision.compute_dtype
        scale = None if state.loss_scale is None else state.loss_scale.scale

        def loss_of(
            params: Params,
        ) -> tuple[Float[Array, ""], tuple[Float[Array, ""], Metrics, ModelState]]:
            if compute is None:
                model, state_after = definition.merge_running(params, model_state)
            else:
                model, state_after = definition.merge_running(
                    cast_floating(params, compute), cast_floating(model_state, compute)
                )
            loss, metrics = loss_fn(model, batch)
            # An NNX model advances its RNG counters (and batch statistics) as it runs; a
            # WithState model returns its new state.
            after = state_after() if compute is None else cast_like(state_after(), model_state)
            scaled = loss if scale is None else loss * scale.astype(loss.dtype)
            return scaled, (loss, metrics, after)

        grad_fn = jax.grad(loss_of, has_aux=True)
        grads, (loss, metrics, model_state) = grad_fn(state.params)
        if scale is not None:
            grads = jax.tree.map(lambda g: g / scale.astype(g.dtype), grads)
        return loss, metrics, model_state, grads

    def _accumulated_gradient(
        self, definition: AbstractModelDef, state: TrainState, batch: Batch, key: PRNGKeyArray
    ) -> tuple[Float[Array, ""], Metrics, ModelState, Params]:
        """`_gradient` over `accumulate` micro-batches of `batch`, one after another: the
        means of their losses, metrics and gradients, and the model state after the last."""
        count = self.options.accumulate

        def one(
            carry: tuple[Params, ModelState], inputs: tuple[Array, Batch]
        ) -> tuple[tuple[Params, ModelState], tuple[Float[Array, ""], Metrics]]:
            total, model_state = carry
            index, micro_batch = inputs
            loss, metrics, model_state, grads = self._gradient(
                definition, state, model_state, micro_batch, jax.random.fold_in(key, index)
            )
            total = jax.tree.map(jnp.add, total, grads)
            return (total, model_state), (loss, metrics)

        zeros = jax.tree.map(jnp.zeros_like, state.params)
        inputs = (jnp.arange(count, dtype=jnp.int32), micro_batches(batch, count))
        (total, model_state), (losses, metrics) = jax.lax.scan(
            one, (zeros, state.model_state), inputs
        )
        grads = jax.tree.map(lambda g: g / jnp.asarray(count, g.dtype), total)
        means = {name: jnp.mean(values) for name, values in metrics.items()}
        return jnp.mean(losses), means, model_state, grads

    def evaluate(
        self, state: TrainState, batch: Batch, *, weights: Weights = "trained"
    ) -> tuple[Float[Array, ""], Metrics]:
        """`(loss, metrics)` of `state`'s model on `batch` at `state.step`, changing nothing.

        The model runs as evaluation runs it (`framework_of(model).inference`: an Equinox
        model in inference mode, BatchNorm on its running statistics), with its
        `"trained"` parameters or their average (`weights="ema"`).
        """
        loss_fn = self.loss_fn(state.step, step_key(state.key, state.step))
        model = state.model_with(weights)
        return loss_fn(framework_of(model).inference(model), batch)
