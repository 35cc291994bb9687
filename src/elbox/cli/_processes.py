"""`elbox train --distributed`: joining the other processes, and agreeing with them."""

import dataclasses

import jax
import numpy as np

from ._errors import RunError

_TEXT_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class Processes:
    """The processes of a run: how many, which one this is, and how many devices a batch is
    split over (all devices of all processes with `--distributed`, else one)."""

    count: int
    index: int
    devices: int

    @property
    def primary(self) -> bool:
        """Whether this is process 0, which writes the logs, plots and summary."""
        return self.index == 0


def join_processes(distributed: bool) -> Processes:
    """With `distributed`, join JAX's multi-process runtime (`elbox.distributed.initialize`,
    which reads JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID or detects a
    cluster); then the processes and devices there are.

    Raises:
        RunError: when the settings are wrong or the other processes cannot be reached.
    """
    if distributed:
        import elbox.distributed

        try:
            elbox.distributed.initialize()
        except ValueError as error:
            raise RunError(
                f"--distributed: {str(error).rstrip('.')}; set JAX_COORDINATOR_ADDRESS, "
                "JAX_NUM_PROCESSES and JAX_PROCESS_ID in every process, or start them with a "
                "launcher JAX detects (SLURM, Open MPI)"
            ) from None
        except RuntimeError as error:
            raise RunError(f"--distributed: cannot join the other processes: {error}") from None
        # The mesh spans every device of every process; each batch must split over them.
        return Processes(jax.process_count(), jax.process_index(), jax.device_count())
    return Processes(1, 0, 1)  # one process training on its default device


def agree_flag(value: bool) -> bool:
    """Process 0's `value`, in every process (every process must call this)."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    shared = multihost_utils.broadcast_one_to_all(np.asarray(value, np.int32))
    return bool(np.asarray(shared))


def agree_text(value: str) -> str:
    """Process 0's `value` (at most 4 KiB of UTF-8), in every process."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    encoded = np.zeros(_TEXT_BYTES, np.uint8)
    raw = value.encode()[: _TEXT_BYTES - 1]
    encoded[: len(raw)] = np.frombuffer(raw, np.uint8)
    shared = np.asarray(multihost_utils.broadcast_one_to_all(encoded))
    return bytes(shared[shared != 0].tolist()).decode()
