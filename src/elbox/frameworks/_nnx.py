"""The Flax NNX adapter: NNX models (and their `nnx.Optimizer`) in front of the functional core.

An NNX model is a graph of mutable Python objects. The adapter splits it once (`nnx.split`)
into a static graph definition and plain arrays, so the core's `TrainStep` sees a pytree
like any other. This is the one module of elbox (with `elbox.models.nnx`) that imports
Flax; `framework_of` imports it when an NNX model first arrives.
"""

import functools
import inspect
from collections.abc import Callable
from typing import Any, cast, final

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jaxtyping import Array, PRNGKeyArray, PyTree

from .._custom_types import Model, ModelState, OptimizerLike, OptState, Params
from .._dtypes import shared_half_dtype
from ._framework import AbstractFramework, Binding, Home, Homes
from ._model_def import AbstractModelDef


def _is_variable(node: object) -> bool:
    return isinstance(node, nnx.Variable)


@final
class NNXModelDef(AbstractModelDef):
    """An NNX model's graph definition and the filter that picks its trained Variables."""

    graphdef: nnx.GraphDef[Any] = eqx.field(static=True)
    trainable: nnx.filterlib.Filter = eqx.field(static=True)

    def merge(self, params: Params, model_state: ModelState) -> Model:
        return nnx.merge(self.graphdef, params, model_state)

    def merge_running(
        self, params: Params, model_state: ModelState
    ) -> tuple[Model, Callable[[], ModelState]]:
        model = self.merge(params, model_state)

        def state_after() -> ModelState:
            _, _, *others = nnx.split(model, self.trainable, ...)
            return nnx.as_pure(others[0])

        return model, state_after


def counting(
    tx: optax.GradientTransformation, count_dtype: jnp.dtype
) -> optax.GradientTransformation:
    """`tx`, with an update counter beside its state: the state `(tx's state, count)`.

    This is how an `nnx.Optimizer` keeps its `step`; a skipped step leaves both unchanged.
    """

    def init(params: Params) -> tuple[OptState, Array]:
        return tx.init(params), jnp.zeros((), count_dtype)

    def update(
        updates: Params, state: tuple[OptState, Array], params: Params | None = None
    ) -> tuple[Params, tuple[OptState, Array]]:
        inner, count = state
        updates, inner = tx.update(updates, inner, params)
        return updates, (inner, count + jnp.ones((), count.dtype))

    return optax.GradientTransformation(init, update)


def _writes_directly(variable: nnx.Variable[Any]) -> bool:
    """Whether `variable`'s value can be replaced by setting its `_raw_value` slot.

    Writing back is on the hot path: `set_raw_value` goes through `Variable.__setattr__`,
    whose trace-level check costs about 2 us per Variable even with Flax's
    `_unsafe_bypass_check` (88 us per step for an MLP VAE and adam, 37 Variables). We
    write only from the top level, outside any trace (the trainers refuse tracer batches),
    so the check is moot; the slot is written directly where this Flax release keeps the
    value there and the Variable's class does not override how it is read or written.
    Elsewhere the checked `set_raw_value` is used.
    """
    cls = type(variable)
    if (
        cls.get_raw_value is not nnx.Variable.get_raw_value
        or cls.set_raw_value is not nnx.Variable.set_raw_value
        or not _set_raw_value_sets_the_slot()
    ):
        return False
    value = variable.get_raw_value()
    object.__setattr__(variable, "_raw_value", value)
    return variable.get_raw_value() is value


@functools.cache
def _set_raw_value_sets_the_slot() -> bool:
    """Whether this Flax's `Variable.set_raw_value` stores the value in `_raw_value`."""
    try:
        source = inspect.getsource(nnx.Variable.set_raw_value)
    except (OSError, TypeError):  # no source shipped: trust only the checked path
        return False
    return "self._raw_value = value" in source


def _set_raw(variable: nnx.Variable[Any], value: Array) -> None:
    object.__setattr__(variable, "_raw_value", value)


def _home(variable: nnx.Variable[Any]) -> Home:
    """How a trainer reads and replaces `variable`'s value: the slot itself where that is
    safe (see `_writes_directly`), else Flax's checked `set_raw_value`."""
    write = (
        functools.partial(_set_raw, variable)
        if _writes_directly(variable)
        else variable.set_raw_value
    )
    return Home(variable.get_raw_value, write)


def _variables(tree: PyTree) -> list[nnx.Variable[Any]]:
    return jax.tree.leaves(tree, is_leaf=_is_variable)


@final
class NNXFramework(AbstractFramework):
    """Flax NNX models: graphs of mutable objects, trained in place.

    A trainer keeps the user's own `nnx.Variable` objects as the home of the training
    state's arrays: before each step it reads the arrays out of them, after the step it
    writes the new ones back, so the user's `model` and `nnx.Optimizer` always hold the
    trained state, as with `nnx.jit`, without `nnx.jit`'s per-call graph traversal.
    """

    name = "nnx"

    def split(
        self, model: Model, trainable: object = None
    ) -> tuple[NNXModelDef, Params, ModelState]:
        """Split with `nnx.split`: `params` are the Variables that `trainable` picks
        (default `nnx.Param`), `model_state` all the others (RNG keys and counters, batch
        statistics); both are `nnx.State`s holding arrays, not Variables, so they pass
        through JAX transformations like any pytree."""
        picked = nnx.Param if trainable is None else cast(nnx.filterlib.Filter, trainable)
        graphdef, params, *others = nnx.split(model, picked, ...)
        return NNXModelDef(graphdef, picked), nnx.as_pure(params), nnx.as_pure(others[0])

    def call(self, model: Model, x: Array, *, key: PRNGKeyArray) -> object:
        # An NNX model draws its noise from its own nnx.Rngs.
        run: Callable[[Array], object] = model
        return run(x)

    def inference(self, model: Model) -> Model:
        return model

    def compute_dtype(self, model: Model) -> jnp.dtype | None:
        return shared_half_dtype(jax.tree.leaves(nnx.state(model, nnx.Param)))

    def bind(self, model: Model, optimizer: OptimizerLike) -> Binding:
        if not isinstance(optimizer, nnx.Optimizer):
            raise TypeError(
                "a Flax NNX model is trained with an nnx.Optimizer, e.g. "
                "nnx.Optimizer(model, optax.adam(1e-4), wrt=nnx.Param); "
                f"got {type(optimizer).__name__}"
            )
        graphdef, params, *others = nnx.split(model, optimizer.wrt, ...)
        model_state = others[0]
        opt_variables = _variables(optimizer.opt_state)
        pure_params = nnx.as_pure(params)
        step_variable = optimizer.step
        count = step_variable.get_raw_value()
        # The optax state, in the structure `tx.init` gives plain arrays, filled with the
        # arrays the optimizer holds (in leaf order: NNX wraps each leaf in a Variable).
        expected = jax.eval_shape(optimizer.tx.init, pure_params)
        opt_arrays = [variable.get_raw_value() for variable in opt_variables]
        if len(opt_arrays) != len(jax.tree.leaves(expected)) or any(
            jnp.shape(array) != wanted.shape
            for array, wanted in zip(opt_arrays, jax.tree.leaves(expected), strict=True)
        ):
            raise TypeError(
                "the nnx.Optimizer's state does not fit this model's trained Variables (was "
                "the optimizer made for another model, or with another wrt?)"
            )
        opt_state = (jax.tree.unflatten(jax.tree.structure(expected), opt_arrays), count)
        pure_model_state = nnx.as_pure(model_state)
        homes = Homes(
            params=[_home(variable) for variable in _variables(params)],
            # The counting transformation's state: (the optax state, the count).
            opt_state=[_home(variable) for variable in [*opt_variables, step_variable]],
            model_state=[_home(variable) for variable in _variables(model_state)],
        )
        parts = (pure_params, opt_state, pure_model_state)
        if [len(part) for part in (homes.params, homes.opt_state, homes.model_state)] != [
            len(jax.tree.leaves(part)) for part in parts
        ]:
            raise TypeError(
                "elbox supports NNX Variables that each hold one array; this model or "
                "optimizer has a Variable holding a pytree of arrays"
            )
        return Binding(
            definition=NNXModelDef(graphdef, optimizer.wrt),
            params=pure_params,
            opt_state=opt_state,
            model_state=pure_model_state,
            optimizer=counting(optimizer.tx, count.dtype),
            homes=homes,
            live_model=model,
            live_optimizer=optimizer,
        )

    def map_arrays(self, model: Model, function: Callable[[Array], Array]) -> Model:
        graphdef, state = nnx.split(model)
        return nnx.merge(graphdef, jax.tree.map(function, state))


NNX = NNXFramework()
"""The one `NNXFramework`."""
