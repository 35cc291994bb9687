"""Where a stateful trainer keeps its `TrainState` between steps, as a flat list of arrays.

The compiled steps take and return the state's leaves as a plain list, which JAX flattens
in C++, so no Python runs per leaf on the hot path; the state's tree structure is fixed
when the trainer is built.
"""

from typing import final

import jax
from jaxtyping import Array, PRNGKeyArray

from .._custom_types import Model, OptimizerLike, StateLeaves
from ..core._step_options import StepOptions
from ..core._train_state import TrainState, initial_state
from ..frameworks._framework import Binding, Home, Homes


def own_copy(leaf: Array) -> Array:
    """A copy of an array the trainer will own: donating it must not delete the caller's."""
    return leaf.copy() if isinstance(leaf, jax.Array) else leaf


def _homes_by_leaf(treedef: jax.tree_util.PyTreeDef, homes: Homes) -> list[Home | None]:
    """The home of each leaf of a state with structure `treedef` (None: held by elbox).

    The state is rebuilt with each leaf's position in place of the leaf, so the positions
    of its `params`, `opt_state` and `model_state` are read off its own structure.
    """
    positions: TrainState = jax.tree.unflatten(treedef, list(range(treedef.num_leaves)))
    by_leaf: list[Home | None] = [None] * treedef.num_leaves
    for part, part_homes in (
        (positions.params, homes.params),
        (positions.opt_state, homes.opt_state),
        (positions.model_state, homes.model_state),
    ):
        for position, home in zip(jax.tree.leaves(part), part_homes, strict=True):
            by_leaf[position] = home
    return by_leaf


@final
class StateHolder:
    """A trainer's `TrainState` between steps: `read` gives its leaves, `write` replaces them.

    Arrays whose home is outside elbox (an NNX model's and optimizer's Variables) are read
    from and written to that home, so the user's objects always hold the trained state;
    the others (all of an Equinox model's, and the step, key and skipped count) are held
    here, copied once so that donating them never deletes the caller's arrays.

    Args:
        binding: the model and optimizer as the framework seam binds them.
        key: the base PRNG key of the steps' noise.
        options: the steps' options, which say whether the state holds an average of the
            parameters and a loss scale.
    """

    def __init__(
        self, binding: Binding, key: PRNGKeyArray, options: StepOptions | None = None
    ) -> None:
        state = initial_state(
            binding.definition,
            binding.params,
            binding.model_state,
            binding.optimizer,
            key=key,
            opt_state=binding.opt_state,
            options=options,
        )
        leaves, treedef = jax.tree.flatten(state)
        self.treedef: jax.tree_util.PyTreeDef = treedef
        """The structure of the `TrainState` whose leaves `read` returns."""
        self.optimizer = binding.optimizer
        """The optax transformation the core's `TrainStep` applies to this state."""
        self._live_model = binding.live_model
        self.live_optimizer: OptimizerLike | None = binding.live_optimizer
        """The optimizer object that holds the state in place (an `nnx.Optimizer`), if any."""
        homes = None if binding.homes is None else _homes_by_leaf(self.treedef, binding.homes)
        if homes is None or all(home is None for home in homes):
            self._readers = None
            self._writers = None
            self._leaves = [own_copy(leaf) for leaf in leaves]
            return
        self._readers = [None if home is None else home.read for home in homes]
        self._writers = [None if home is None else home.write for home in homes]
        self._leaves = [
            own_copy(leaf) if home is None else leaf
            for leaf, home in zip(leaves, homes, strict=True)
        ]

    def read(self) -> StateLeaves:
        """The current leaves of the state."""
        if self._readers is None:
            return self._leaves
        held = self._leaves
        return [
            held[index] if reader is None else reader()
            for index, reader in enumerate(self._readers)
        ]

    def write(self, leaves: StateLeaves) -> None:
        """Make `leaves` the current state."""
        if self._writers is None:
            self._leaves = leaves
            return
        held = self._leaves
        for index, (writer, leaf) in enumerate(zip(self._writers, leaves, strict=True)):
            if writer is None:
                held[index] = leaf
            else:
                writer(leaf)

    @property
    def state(self) -> TrainState:
        """The current state as a `TrainState`."""
        state: TrainState = jax.tree.unflatten(self.treedef, self.read())
        return state

    @property
    def model(self) -> Model:
        """The model with the current parameters, as the user sees it: the object passed
        in (for NNX, updated in place), or a model rebuilt from the state (Equinox)."""
        if self._live_model is not None:
            return self._live_model
        return self.state.model
