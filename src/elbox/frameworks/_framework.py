"""What elbox needs to know about a model's framework, as one interface with two answers."""

import abc
import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import optax
from jaxtyping import Array, PRNGKeyArray

from .._custom_types import Model, ModelState, OptimizerLike, OptState, Params
from ._model_def import AbstractModelDef


class Home(NamedTuple):
    """Where one array of a training state lives between steps, outside elbox: how to read
    it and how to replace it (an NNX Variable's value)."""

    read: Callable[[], Array]
    write: Callable[[Array], None]


@dataclasses.dataclass(frozen=True)
class Homes:
    """The homes of a training state's arrays, part by part, each list in the
    `jax.tree.leaves` order of that part."""

    params: list[Home]
    opt_state: list[Home]
    model_state: list[Home]


@dataclasses.dataclass(frozen=True)
class Binding:
    """A model and its optimizer as a stateful trainer keeps them: the arrays the
    functional core trains, the transformation it applies, and where the arrays live.

    Attributes:
        definition: what merges `params` and `model_state` back into the model.
        params: the trained parameters.
        opt_state: the optimizer state; None for a fresh one (`optimizer.init(params)`).
        model_state: the model's untrained arrays.
        optimizer: the optax transformation the core applies to this state.
        homes: where the arrays live between steps (the user's NNX Variables); None when
            elbox holds them itself (Equinox models are values).
        live_model: the object the user holds and elbox updates in place (an NNX model);
            None when the model is rebuilt from the state (Equinox).
        live_optimizer: likewise for the optimizer (an `nnx.Optimizer`), or None.
    """

    definition: AbstractModelDef
    params: Params
    opt_state: OptState | None
    model_state: ModelState
    optimizer: optax.GradientTransformation
    homes: Homes | None = None
    live_model: Model | None = None
    live_optimizer: OptimizerLike | None = None


class AbstractFramework(abc.ABC):
    """How elbox handles the models of one framework: splitting a model into arrays and
    back, calling it, and keeping its training state between steps.

    `framework_of(model)` gives the framework of a model; nothing else in elbox asks
    which framework a model comes from.
    """

    name: str
    """`"equinox"` or `"nnx"`."""

    @abc.abstractmethod
    def split(
        self, model: Model, trainable: object = None
    ) -> tuple[AbstractModelDef, Params, ModelState]:
        """`(definition, params, model_state)` of `model`; `trainable` picks the trained
        arrays (the framework's default when None)."""

    @abc.abstractmethod
    def call(self, model: Model, x: Array, *, key: PRNGKeyArray) -> object:
        """The model's raw outputs on a batch `x`, its noise drawn from `key` where the
        framework passes keys (Equinox) or from the model's own RNG state (NNX)."""

    @abc.abstractmethod
    def inference(self, model: Model) -> Model:
        """The model as evaluation runs it: an Equinox model in inference mode
        (`eqx.nn.inference_mode`: BatchNorm on its running statistics, no dropout); an
        NNX model as it is (its mode is the one you set, `model.eval()`)."""

    @abc.abstractmethod
    def compute_dtype(self, model: Model) -> jnp.dtype | None:
        """The 16-bit floating dtype that all of the model's trained parameters have (as
        under a mixed-precision policy), or None: then the model computes in the dtype of
        its inputs, as they are."""

    @abc.abstractmethod
    def bind(self, model: Model, optimizer: OptimizerLike) -> Binding:
        """The model and its optimizer as a trainer keeps them.

        Raises:
            TypeError: when the optimizer does not fit the model (wrong kind, or made
                for another model), or the model cannot be trained by elbox.
        """

    @abc.abstractmethod
    def map_arrays(self, model: Model, function: Callable[[Array], Array]) -> Model:
        """A copy of `model` with `function` applied to each of its arrays."""
