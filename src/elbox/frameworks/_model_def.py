"""A model's static part: what merges its arrays back into the model."""

import abc

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
    def model_state_of(self, model: Model) -> ModelState:
        """The untrained state of `model`, as it is after the model has run.

        A Flax NNX model changes its own RNG counters (and batch statistics) when it runs;
        a training step reads them back with this. An Equinox model cannot change itself.
        """
