"""A model's static part: what merges its arrays back into the model."""

import abc
from collections.abc import Callable

import equinox as eqx

from .._custom_types import Model, ModelState, Params


class AbstractModelDef(eqx.Module):
    """The static part of a model: what turns `(params, model_state)` back into the model.

    A `TrainState` keeps one as a static field, so it is hashable and compared by value:
    states of models with the same architecture (say, from different seeds) have equal
    definitions and can be stacked for `jax.vmap`. `framework_of(model).split(model)`
    makes one.
    """

    @abc.abstractmethod
    def merge(self, params: Params, model_state: ModelState) -> Model:
        """The model with these parameters and this untrained state."""

    @abc.abstractmethod
    def merge_running(
        self, params: Params, model_state: ModelState
    ) -> tuple[Model, Callable[[], ModelState]]:
        """The model to run inside a training step, and a function that gives its
        untrained state as it is after the model ran.

        A Flax NNX model changes its own RNG counters (and batch statistics) when it runs;
        a stateful Equinox model (`WithState`) returns a new `eqx.nn.State`, which the
        model given here keeps. A training step reads the new state with the function, in
        the same trace; a plain Equinox model's state never changes.
        """
