"""Equinox models: values that split with `eqx.partition` and are called with a key.

A stateful Equinox model travels as `WithState(model, state)`: its `eqx.nn.State` is
part of the untrained arrays (`model_state`), never of the trained ones.
"""

import inspect
from collections.abc import Callable
from typing import Any, cast, final

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, PRNGKeyArray, PyTree

from .._custom_types import Model, ModelState, OptimizerLike, Params
from .._dtypes import shared_half_dtype
from ._framework import AbstractFramework, Binding
from ._model_def import AbstractModelDef
from ._with_state import WithState, recording


def _is_state_index(node: object) -> bool:
    return isinstance(node, eqx.nn.StateIndex)


@final
class EquinoxModelDef(AbstractModelDef):
    """An Equinox model's skeleton: everything but its arrays (the model's static fields,
    activation functions, ...), with `None` where the arrays were; and the filter that
    picks the trained arrays."""

    skeleton: PyTree = eqx.field(static=True)
    trainable: Callable[[object], bool] = eqx.field(static=True)

    def merge(self, params: Params, model_state: ModelState) -> Model:
        return eqx.combine(params, model_state, self.skeleton)

    def merge_running(
        self, params: Params, model_state: ModelState
    ) -> tuple[Model, Callable[[], ModelState]]:
        model = self.merge(params, model_state)
        if not isinstance(model, WithState):
            return model, lambda: model_state  # a value: running it changes nothing
        newest = recording(model)

        def state_after() -> ModelState:
            after: ModelState = eqx.tree_at(lambda tree: tree.state, model_state, newest())
            return after

        return model, state_after


def _check_takes_key(model: eqx.Module) -> None:
    """An Equinox VAE is called as `model(x, *, key)`: refuse one whose `__call__` takes no key."""
    call = cast(Callable[..., Any], model)
    try:
        parameters = inspect.signature(call).parameters
    except (TypeError, ValueError):  # a callable without an inspectable signature
        return
    takes_key = "key" in parameters or any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()
    )
    if not takes_key:
        raise TypeError(
            f"{type(model).__name__}.__call__{inspect.signature(call)} takes no `key`; an "
            "Equinox VAE is called as model(x, *, key) and returns (recon_x, mean, logvar)"
        )


@final
class EquinoxFramework(AbstractFramework):
    """Equinox models: the model is a value, so elbox holds its training state itself."""

    name = "equinox"

    def split(
        self, model: Model, trainable: object = None
    ) -> tuple[EquinoxModelDef, Params, ModelState]:
        """Split with `eqx.partition`; `trainable` is a filter function, by default
        `eqx.is_inexact_array` (every floating-point array)."""
        is_trained = eqx.is_inexact_array if trainable is None else trainable
        if not callable(is_trained):
            raise TypeError(
                "trainable must be a filter function for an Equinox model, e.g. "
                f"eqx.is_inexact_array; got {type(trainable).__name__}"
            )
        _refuse_loose_state(model)
        params, others = eqx.partition(model, is_trained)
        if isinstance(model, WithState):  # its eqx.nn.State is never trained
            params = eqx.tree_at(lambda tree: tree.state, params, None)
            others = eqx.tree_at(lambda tree: tree.state, others, model.state)
        model_state, skeleton = eqx.partition(others, eqx.is_array)
        return EquinoxModelDef(skeleton, is_trained), params, model_state

    def call(self, model: Model, x: Array, *, key: PRNGKeyArray) -> object:
        run: Callable[..., object] = model
        return run(x, key=key)

    def inference(self, model: Model) -> Model:
        return eqx.nn.inference_mode(model)

    def compute_dtype(self, model: Model) -> jnp.dtype | None:
        trained = model.model if isinstance(model, WithState) else model
        return shared_half_dtype(jax.tree.leaves(eqx.filter(trained, eqx.is_inexact_array)))

    def bind(self, model: Model, optimizer: OptimizerLike) -> Binding:
        if not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(
                "an Equinox model is trained with an optax.GradientTransformation, e.g. "
                f"optax.adam(1e-4); got {type(optimizer).__name__}"
            )
        _check_takes_key(model)
        definition, params, model_state = self.split(model)
        return Binding(definition, params, None, model_state, optimizer)

    def map_arrays(self, model: Model, function: Callable[[Array], Array]) -> Model:
        return jax.tree.map(lambda leaf: function(leaf) if eqx.is_array(leaf) else leaf, model)


EQUINOX = EquinoxFramework()
"""The one `EquinoxFramework`."""


def _refuse_loose_state(model: Model) -> None:
    """A model with stateful layers must come with its state, as `WithState(model, state)`."""
    if isinstance(model, WithState):
        return
    if any(_is_state_index(node) for node in jax.tree.leaves(model, is_leaf=_is_state_index)):
        raise TypeError(
            f"{type(model).__name__} has stateful layers (an eqx.nn.StateIndex, as in "
            "eqx.nn.BatchNorm); pass it with its state: model, state = "
            "eqx.nn.make_with_state(Model)(...), then elbox.WithState(model, state)"
        )
