"""Data parallelism with JAX's own sharding: batches split over a mesh axis, state replicated."""

from collections.abc import Sequence
from typing import final

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, ArrayLike

from ._custom_types import Batch, StateLeaves


def data_parallel_mesh(
    devices: Sequence[jax.Device] | None = None, *, axis_name: str = "data"
) -> Mesh:
    """A one-axis mesh over `devices` (default: every device of every process).

    Example:
        >>> from elbox import data_parallel_mesh
        >>> mesh = data_parallel_mesh()
        >>> mesh.axis_names, mesh.devices.size >= 1
        (('data',), True)
    """
    chosen = list(jax.devices() if devices is None else devices)
    if not chosen:
        raise ValueError("data_parallel_mesh needs at least one device")
    return Mesh(np.array(chosen), (axis_name,))


@final
class DataParallel:
    """How a trainer places arrays on a mesh: state replicated, batches split along an axis.

    Args:
        mesh: the devices.
        axis: the mesh axis that splits the batch; may be omitted for a one-axis mesh.
            Other mesh axes (if any) hold copies of each batch shard.
    """

    def __init__(self, mesh: Mesh, axis: str | None = None) -> None:
        if not isinstance(mesh, Mesh):
            raise TypeError(f"mesh must be a jax.sharding.Mesh; got {type(mesh).__name__}")
        if axis is None:
            if len(mesh.axis_names) != 1:
                raise ValueError(
                    f"the mesh has axes {mesh.axis_names}; name the one that splits the batch "
                    "(data_axis=...)"
                )
            axis = str(mesh.axis_names[0])
        if axis not in mesh.axis_names:
            raise ValueError(f"the mesh has no axis {axis!r}; its axes are {mesh.axis_names}")
        self.mesh = mesh
        self.axis = axis
        self.num_shards = int(mesh.shape[axis])
        self.replicated = NamedSharding(mesh, PartitionSpec())
        self._batch = NamedSharding(mesh, PartitionSpec(axis))
        self._stacked = NamedSharding(mesh, PartitionSpec(None, axis))

    def batch_sharding(self, *, stacked: bool) -> NamedSharding:
        """Split along the batch axis: axis 0, or axis 1 of stacked batches."""
        return self._stacked if stacked else self._batch

    def replicate(self, leaves: StateLeaves) -> StateLeaves:
        """Copies of `leaves` on every device of the mesh (the same value in each process)."""
        return [self._replicate_one(leaf) for leaf in leaves]

    def _replicate_one(self, leaf: Array) -> Array:
        if isinstance(leaf, jax.Array) and leaf.sharding == self.replicated:
            return leaf
        copy: Array
        if jax.process_count() == 1:
            copy = jax.device_put(leaf, self.replicated)
        elif isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            data = self._replicate_one(jax.random.key_data(leaf))
            copy = jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
        else:
            # Every process holds the whole value: it is its own process-local share.
            copy = jax.make_array_from_process_local_data(self.replicated, np.asarray(leaf))
        return copy

    def place_batch(self, batch: Batch, *, stacked: bool) -> Batch:
        """The global batch whose process-local share is `batch`, split over the mesh.

        Raises:
            ValueError: when the global batch does not split evenly over the devices.
        """
        sharding = self.batch_sharding(stacked=stacked)
        batch_axis = 1 if stacked else 0

        def place(leaf: ArrayLike) -> ArrayLike:
            if isinstance(leaf, jax.Array) and leaf.sharding == sharding:
                return leaf
            local = int(np.shape(leaf)[batch_axis])
            size = local * jax.process_count()
            if size % self.num_shards:
                where = (
                    f" ({jax.process_count()} processes x {local})"
                    if jax.process_count() > 1
                    else ""
                )
                raise ValueError(
                    f"a batch of {size} examples{where} does not split evenly over the "
                    f"{self.num_shards} devices of mesh axis {self.axis!r}; use a batch size "
                    f"divisible by {self.num_shards}"
                )
            placed: ArrayLike
            if jax.process_count() > 1:
                placed = jax.make_array_from_process_local_data(sharding, np.asarray(leaf))
            elif isinstance(leaf, jax.Array):
                # The compiled step's in_shardings split host data (in C++, cheaply); a JAX
                # array already placed elsewhere must be moved explicitly.
                placed = jax.device_put(leaf, sharding)
            else:
                placed = leaf
            return placed

        placed: Batch = jax.tree.map(place, batch)
        return placed

    def __repr__(self) -> str:
        shape = dict(self.mesh.shape)
        return f"DataParallel(mesh axes {shape}, batch split over {self.axis!r})"


def is_primary_process() -> bool:
    """Whether this is process 0, the one that writes logs, plots and shared files."""
    return jax.process_index() == 0


def sync_processes(name: str) -> None:
    """Wait for every process to reach this point (a no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
