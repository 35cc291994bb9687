"""The interface between a framework's model and optimizer and elbox's pure training step."""

import abc
from typing import Any, Generic

import jax
from jaxtyping import Array, Float, PRNGKeyArray

from ._custom_types import LossFn, LossFnFactory, Metrics, ModelT, StepLike
from ._elbo import ELBOObjective


class AbstractBackend(abc.ABC, Generic[ModelT]):
    """Connects one framework (Flax NNX or Equinox) to the pure training step.

    A backend exposes the training state as a flat list of arrays ("leaves") with a fixed
    tree structure, so the compiled step takes and returns plain lists: JAX flattens those
    in C++, with no Python per leaf on the hot path. `read` and `write` move the leaves
    between the user's objects and the step; `update` and `evaluate` are pure and run
    under `jax.jit`.
    """

    treedef: jax.tree_util.PyTreeDef
    """The structure of `(params, opt_state)`, whose leaves `read` returns."""

    @abc.abstractmethod
    def read(self) -> list[Any]:
        """The current leaves of `(params, opt_state)`."""

    @abc.abstractmethod
    def write(self, leaves: list[Any]) -> None:
        """Make `leaves` the current state (for NNX: write them into the user's objects)."""

    @property
    @abc.abstractmethod
    def model(self) -> ModelT:
        """The model with the current parameters."""

    @abc.abstractmethod
    def loss_fn(
        self, objective: ELBOObjective, step: StepLike, key: PRNGKeyArray
    ) -> LossFn[ModelT]:
        """`loss_fn(model, batch) -> (loss, metrics)` at `step`, differentiable in `model`."""

    @abc.abstractmethod
    def update(
        self,
        params: Any,
        opt_state: Any,
        batch: Any,
        step: Any,
        make_loss_fn: LossFnFactory[ModelT],
    ) -> tuple[Any, Any, Float[Array, ""], Metrics]:
        """One optimisation step of `make_loss_fn(step)`, pure: the new state, loss, metrics."""

    @abc.abstractmethod
    def evaluate(
        self,
        params: Any,
        opt_state: Any,
        batch: Any,
        step: Any,
        make_loss_fn: LossFnFactory[ModelT],
    ) -> tuple[Float[Array, ""], Metrics]:
        """`make_loss_fn(step)(model, batch)` without changing anything."""
