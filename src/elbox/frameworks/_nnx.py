"""The Flax NNX adapter: NNX models (and their `nnx.Optimizer`) in front of the functional core.

An NNX model is a graph of mutable Python objects. The adapter splits it once (`nnx.split`)
into a static graph definition and plain arrays, so the core's `TrainStep` sees a pytree
like any other. A stateful trainer then keeps the user's own `nnx.Variable` objects as the
home of those arrays: before each step it reads the arrays out of them, after the step it
writes the new ones back. The user's `model` and `optimizer` therefore always hold the
trained state, as with `nnx.jit`, without `nnx.jit`'s per-call graph traversal.
"""

import functools
import inspect
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jaxtyping import PRNGKeyArray

from ..core._train_state import TrainState
from ..trainers._state_holder import AbstractStateHolder, own_copy
from ._model_def import AbstractModelDef


def _is_variable(node: object) -> bool:
    return isinstance(node, nnx.Variable)


@final
class NNXModelDef(AbstractModelDef):
    """An NNX model's graph definition and the filter that picks its trained Variables."""

    graphdef: Any = eqx.field(static=True)
    trainable: Any = eqx.field(static=True)

    def merge(self, params: Any, model_state: Any) -> Any:
        return nnx.merge(self.graphdef, params, model_state)

    def model_state_of(self, model: Any) -> Any:
        _, _, *others = nnx.split(model, self.trainable, ...)
        return nnx.as_pure(others[0])


def split_nnx_model(model: nnx.Module, trainable: Any = None) -> tuple[NNXModelDef, Any, Any]:
    """`(definition, params, model_state)` of an NNX model, as plain arrays.

    `params` are the Variables that `trainable` picks (default `nnx.Param`), `model_state`
    all the others (RNG keys and counters, batch statistics); both are `nnx.State`s holding
    arrays, not Variables, so they pass through JAX transformations like any pytree.
    """
    trainable = nnx.Param if trainable is None else trainable
    graphdef, params, *others = nnx.split(model, trainable, ...)
    return NNXModelDef(graphdef, trainable), nnx.as_pure(params), nnx.as_pure(others[0])


def counting(tx: optax.GradientTransformation, count_dtype: Any) -> optax.GradientTransformation:
    """`tx`, with an update counter beside its state: the state `(tx's state, count)`.

    This is how an `nnx.Optimizer` keeps its `step`; a skipped step leaves both unchanged.
    """

    def init(params: Any) -> tuple[Any, jax.Array]:
        return tx.init(params), jnp.zeros((), count_dtype)

    def update(
        updates: Any, state: tuple[Any, jax.Array], params: Any = None
    ) -> tuple[Any, tuple[Any, jax.Array]]:
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


def _set_raw(variable: nnx.Variable[Any], value: Any) -> None:
    object.__setattr__(variable, "_raw_value", value)


@final
class NNXStateHolder(AbstractStateHolder):
    """A `TrainState` whose arrays live in the user's NNX model and `nnx.Optimizer`.

    The model's Variables hold `params` and `model_state`; the optimizer's hold `opt_state`
    (its `opt_state` and `step`). The step number, key and skipped-step count, which NNX
    has no place for, are kept here.
    """

    def __init__(self, model: nnx.Module, optimizer: nnx.Optimizer[Any], key: PRNGKeyArray):
        self._model = model
        graphdef, params, *others = nnx.split(model, optimizer.wrt, ...)
        model_state = others[0]
        param_variables = jax.tree.leaves(params, is_leaf=_is_variable)
        state_variables = jax.tree.leaves(model_state, is_leaf=_is_variable)
        opt_variables = jax.tree.leaves(optimizer.opt_state, is_leaf=_is_variable)
        pure_params = nnx.as_pure(params)
        step_variable = optimizer.step
        count = step_variable.get_raw_value()
        self.optimizer = counting(optimizer.tx, count.dtype)
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
        state = TrainState(
            params=pure_params,
            opt_state=opt_state,
            model_state=nnx.as_pure(model_state),
            step=jnp.zeros((), jnp.int32),
            key=key,
            skipped=jnp.zeros((), jnp.int32),
            definition=NNXModelDef(graphdef, optimizer.wrt),
        )
        leaves, self.treedef = jax.tree.flatten(state)
        # Where each leaf lives, in TrainState's field order: params, opt_state (the optax
        # state, then the count), step and key (held here), model_state, skipped (held).
        homes: list[nnx.Variable[Any] | None] = [
            *param_variables,
            *opt_variables,
            step_variable,
            None,
            None,
            *state_variables,
            None,
        ]
        if len(homes) != len(leaves):
            raise TypeError(
                "elbox supports NNX Variables that each hold one array; this model or "
                "optimizer has a Variable holding a pytree of arrays"
            )
        self._homes = homes
        # Each home's writer: the direct slot write where it is safe, else `set_raw_value`.
        self._writers = [
            None
            if home is None
            else functools.partial(_set_raw, home)
            if _writes_directly(home)
            else home.set_raw_value
            for home in homes
        ]
        # Copied, so that donating them never deletes the key the caller passed in.
        self._held = {
            index: own_copy(leaf) for index, leaf in enumerate(leaves) if homes[index] is None
        }

    def read(self) -> list[Any]:
        held = self._held
        return [
            held[index] if home is None else home.get_raw_value()
            for index, home in enumerate(self._homes)
        ]

    def write(self, leaves: list[Any]) -> None:
        for index, (writer, leaf) in enumerate(zip(self._writers, leaves, strict=True)):
            if writer is None:
                self._held[index] = leaf
            else:
                writer(leaf)

    @property
    def model(self) -> nnx.Module:
        return self._model


def nnx_state_holder(model: Any, optimizer: Any, key: PRNGKeyArray) -> NNXStateHolder:
    """The holder of an NNX model and its optimizer, after checking the optimizer fits."""
    if not isinstance(optimizer, nnx.Optimizer):
        raise TypeError(
            "a Flax NNX model is trained with an nnx.Optimizer, e.g. "
            "nnx.Optimizer(model, optax.adam(1e-4), wrt=nnx.Param); "
            f"got {type(optimizer).__name__}"
        )
    return NNXStateHolder(model, optimizer, key)
