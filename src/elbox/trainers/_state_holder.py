"""Where a stateful trainer keeps its `TrainState` between steps, as a flat list of arrays.

The compiled steps take and return the state's leaves as a plain list, which JAX flattens
in C++, so no Python runs per leaf on the hot path; the state's tree structure is fixed
when the trainer is built.
"""

import abc
from typing import Any, final

import jax
import optax

from ..core._train_state import TrainState


def own_copy(leaf: Any) -> Any:
    """A copy of an array the trainer will own: donating it must not delete the caller's."""
    return leaf.copy() if isinstance(leaf, jax.Array) else leaf


class AbstractStateHolder(abc.ABC):
    """The home of a trainer's `TrainState`: `read` gives its leaves, `write` replaces them."""

    treedef: jax.tree_util.PyTreeDef
    """The structure of the `TrainState` whose leaves `read` returns."""

    optimizer: optax.GradientTransformation
    """The optax transformation the core's `TrainStep` applies to this state."""

    @abc.abstractmethod
    def read(self) -> list[Any]:
        """The current leaves of the state."""

    @abc.abstractmethod
    def write(self, leaves: list[Any]) -> None:
        """Make `leaves` the current state."""

    @property
    @abc.abstractmethod
    def model(self) -> Any:
        """The model with the current parameters, as the user sees it."""


@final
class ArrayStateHolder(AbstractStateHolder):
    """A state kept as its own list of arrays: the Equinox case, where models are values.

    The arrays are copied once, so that donating them to a step never deletes those of the
    model (or key) the caller passed in.
    """

    def __init__(self, state: TrainState, optimizer: optax.GradientTransformation) -> None:
        leaves, self.treedef = jax.tree.flatten(state)
        self._leaves = [own_copy(leaf) for leaf in leaves]
        self.optimizer = optimizer

    def read(self) -> list[Any]:
        return self._leaves

    def write(self, leaves: list[Any]) -> None:
        self._leaves = leaves

    @property
    def model(self) -> Any:
        state: TrainState = jax.tree.unflatten(self.treedef, self._leaves)
        return state.model
