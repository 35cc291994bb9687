"""How a model becomes arrays and back: trained parameters, other state, and a static skeleton.

The functional core sees a model as two pytrees of arrays, the trained `params` and the
untrained `model_state` (NNX RNG counters and batch statistics, integer buffers), plus a
static, hashable *definition* that merges them back into a model. Equinox models split
with `eqx.partition`; Flax NNX models with `nnx.split`, in `elbox._nnx_adapter`, which is
imported only when a model is an NNX module (this file does not import Flax).
"""

import abc
import inspect
import sys
from collections.abc import Callable
from typing import Any, cast, final

import equinox as eqx


class AbstractModelDef(eqx.Module):
    """The static part of a model: what turns `(params, model_state)` back into the model.

    A `TrainState` keeps one as a static field, so it is hashable and compared by value:
    states of models with the same architecture (say, from different seeds) have equal
    definitions and can be stacked for `jax.vmap`.
    """

    @abc.abstractmethod
    def merge(self, params: Any, model_state: Any) -> Any:
        """The model with these parameters and this untrained state."""

    @abc.abstractmethod
    def model_state_of(self, model: Any) -> Any:
        """The untrained state of `model`, as it is after the model has run.

        A Flax NNX model changes its own RNG counters (and batch statistics) when it runs;
        a training step reads them back with this. An Equinox model cannot change itself.
        """


@final
class EquinoxModelDef(AbstractModelDef):
    """An Equinox model's skeleton: everything but its arrays (the model's static fields,
    activation functions, ...), with `None` where the arrays were; and the filter that
    picks the trained arrays."""

    skeleton: Any = eqx.field(static=True)
    trainable: Any = eqx.field(static=True)

    def merge(self, params: Any, model_state: Any) -> Any:
        return eqx.combine(params, model_state, self.skeleton)

    def model_state_of(self, model: Any) -> Any:
        _, others = eqx.partition(model, self.trainable)
        return eqx.filter(others, eqx.is_array)


def is_nnx_module(model: object) -> bool:
    """Whether `model` is a Flax NNX module (without importing Flax when nobody has)."""
    nnx = sys.modules.get("flax.nnx")
    return nnx is not None and isinstance(model, nnx.Module)


def check_takes_key(model: eqx.Module) -> None:
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


def split_model(model: Any, trainable: Any = None) -> tuple[AbstractModelDef, Any, Any]:
    """`(definition, params, model_state)` of an Equinox or Flax NNX model.

    Args:
        model: an `eqx.Module` or an `nnx.Module`.
        trainable: which arrays are trained: for Equinox a filter function (default
            `eqx.is_inexact_array`, every floating-point array), for NNX an `nnx` filter
            (default `nnx.Param`).

    Raises:
        TypeError: for any other kind of model.
    """
    if isinstance(model, eqx.Module):
        is_trained = eqx.is_inexact_array if trainable is None else trainable
        params, others = eqx.partition(model, is_trained)
        model_state, skeleton = eqx.partition(others, eqx.is_array)
        return EquinoxModelDef(skeleton, is_trained), params, model_state
    if is_nnx_module(model):
        from ._nnx import split_nnx_model

        return split_nnx_model(model, trainable)
    raise TypeError(
        f"elbox trains a Flax nnx.Module or an Equinox eqx.Module; got {type(model).__name__}"
    )
