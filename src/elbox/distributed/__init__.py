"""Training over several processes (hosts): `initialize` joins them into one JAX runtime.

After `elbox.distributed.initialize()`, `jax.devices()` lists the devices of every process;
a trainer built with `mesh=elbox.data_parallel_mesh()` splits each global batch over all of
them, each process feeding its own share.
"""

from .._sharding import is_primary_process as is_primary_process
from ._initialize import DistributedConfig as DistributedConfig
from ._initialize import initialize as initialize
from ._initialize import resolve_config as resolve_config
