"""Joining several processes into one JAX runtime, from arguments or the environment."""

import dataclasses
import os
from collections.abc import Mapping, Sequence

import jax

from .._validation import checked_int

# The environment variables `initialize` reads when an argument is not given. JAX itself
# reads JAX_COORDINATOR_ADDRESS; the other two complete the set for launchers that don't
# set up a cluster JAX detects (SLURM, Open MPI, ... are detected by JAX on their own).
COORDINATOR_ADDRESS = "JAX_COORDINATOR_ADDRESS"
NUM_PROCESSES = "JAX_NUM_PROCESSES"
PROCESS_ID = "JAX_PROCESS_ID"


@dataclasses.dataclass(frozen=True)
class DistributedConfig:
    """Where the coordinator listens, how many processes join, and which one this is.

    `None` fields are left to JAX's cluster detection (SLURM, Open MPI, Kubernetes, TPU
    pods).
    """

    coordinator_address: str | None
    num_processes: int | None
    process_id: int | None


def _from_environment(name: str, environ: Mapping[str, str]) -> int | None:
    value = environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"the environment variable {name} must be an integer; got {value!r}"
        ) from None


def resolve_config(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> DistributedConfig:
    """The arguments, completed from the environment and checked.

    Arguments win over the environment variables `JAX_COORDINATOR_ADDRESS`,
    `JAX_NUM_PROCESSES` and `JAX_PROCESS_ID`.

    Args:
        coordinator_address: `host:port` of process 0's coordinator.
        num_processes: how many processes take part.
        process_id: this process's index, from 0 to `num_processes - 1`.
        environ: the environment to read (default: `os.environ`).

    Raises:
        ValueError: for an address without a port, a process count below 1, a process id
            outside `[0, num_processes)`, or a count given without an id (or the reverse).

    Example:
        >>> from elbox.distributed import resolve_config
        >>> resolve_config("127.0.0.1:1234", 2, 1)
        DistributedConfig(coordinator_address='127.0.0.1:1234',
                          num_processes=2, process_id=1)
    """
    environ = os.environ if environ is None else environ
    address = coordinator_address or environ.get(COORDINATOR_ADDRESS) or None
    count = (
        num_processes if num_processes is not None else _from_environment(NUM_PROCESSES, environ)
    )
    index = process_id if process_id is not None else _from_environment(PROCESS_ID, environ)
    if address is not None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(
                f"the coordinator address must be host:port, e.g. 127.0.0.1:1234; got {address!r}"
            )
    if (count is None) != (index is None):
        given, missing = (
            ("num_processes", "process_id") if index is None else ("process_id", "num_processes")
        )
        raise ValueError(
            f"{given} is set but {missing} is not: give both (or set {NUM_PROCESSES} and "
            f"{PROCESS_ID}), or neither to let JAX detect the cluster"
        )
    if count is not None and index is not None:
        count = checked_int("", "num_processes", count, 1)
        index = checked_int("", "process_id", index, 0)
        if index >= count:
            raise ValueError(f"process_id must be below num_processes ({count}); got {index}")
    return DistributedConfig(address, count, index)


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: Sequence[int] | None = None,
    timeout_seconds: int = 300,
) -> DistributedConfig:
    """Join this process to the others: `jax.distributed.initialize` with checked arguments.

    Call it in every process before anything else touches JAX's devices. Process 0 runs the
    coordinator at `coordinator_address`; every process names the same address and the
    same `num_processes`, and its own `process_id`. Arguments left out come from
    `JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES` and `JAX_PROCESS_ID`, or from JAX's
    cluster detection.

    To try it on one machine, start the same script twice with
    `JAX_COORDINATOR_ADDRESS=127.0.0.1:1234`, `JAX_NUM_PROCESSES=2` and `JAX_PROCESS_ID`
    set to 0 and 1 (the "Scaling out" guide shows the commands).

    Args:
        coordinator_address: `host:port` of process 0's coordinator, the same in every
            process.
        num_processes: how many processes take part.
        process_id: this process's index, from 0 to `num_processes - 1`.
        local_device_ids: the local devices this process uses (default: all of them).
        timeout_seconds: how long to wait for the other processes to join.

    Returns:
        The configuration used.
    """
    config = resolve_config(coordinator_address, num_processes, process_id)
    jax.distributed.initialize(
        coordinator_address=config.coordinator_address,
        num_processes=config.num_processes,
        process_id=config.process_id,
        local_device_ids=None if local_device_ids is None else list(local_device_ids),
        initialization_timeout=timeout_seconds,
    )
    return config
