"""The `elbox train` options for the training loop, logging and several processes."""

import dataclasses
from typing import Literal

LoggerName = Literal["tensorboard", "wandb"]


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    """training loop"""

    early_stopping: int | None = dataclasses.field(default=None, metadata={"metavar": "PATIENCE"})
    """Stop when val_neg_elbo has not improved for PATIENCE epochs (default: train all --epochs)."""
    steps_per_dispatch: int = dataclasses.field(default=1, metadata={"metavar": "K"})
    """Run K training steps per compiled dispatch (faster for small models)."""
    checkpoint_every: int = dataclasses.field(default=1, metadata={"metavar": "N"})
    """Save a checkpoint every N epochs, and after the last."""
    keep_checkpoints: int = dataclasses.field(default=2, metadata={"metavar": "K"})
    """How many of the newest checkpoints to keep, besides the best one."""
    distributed: bool = False
    """Join JAX's multi-process runtime (from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES
    and JAX_PROCESS_ID, or a cluster JAX detects) and train data-parallel on every
    process's devices; --batch-size is the global batch, and process 0 writes the logs,
    plots and summary."""


@dataclasses.dataclass(frozen=True)
class LoggingOptions:
    """logging"""

    log: tuple[LoggerName, ...] = ()
    """Also log to TensorBoard (run/tensorboard; needs the tensorboardX package) or Weights &
    Biases (needs the wandb package); repeat for both."""
    log_images_every: int = dataclasses.field(default=10, metadata={"metavar": "N"})
    """With --log: reconstructions and prior samples as images every N epochs (0: none)."""
    wandb_project: str = dataclasses.field(default="elbox", metadata={"metavar": "NAME"})
    """The W&B project of --log wandb; W&B reads WANDB_MODE, WANDB_API_KEY and so on from
    the environment."""


def check_loop_options(options: LoopOptions | LoggingOptions) -> list[str]:
    """Out-of-range values of these options, as messages."""
    problems: list[str] = []
    minimums = {
        "early_stopping": 1,
        "steps_per_dispatch": 1,
        "checkpoint_every": 1,
        "keep_checkpoints": 1,
        "log_images_every": 0,
    }
    for name, minimum in minimums.items():
        value = getattr(options, name, None)
        if value is not None and value < minimum:
            problems.append(f"--{name.replace('_', '-')} must be >= {minimum}; got {value}")
    logs = getattr(options, "log", ())
    if len(set(logs)) != len(logs):
        problems.append(f"--log names each logger once; got {' '.join(logs)}")
    return problems
