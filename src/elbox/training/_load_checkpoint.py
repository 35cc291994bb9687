"""Loading a checkpoint into a model and optimizer, outside a training loop."""

import dataclasses
import os
from pathlib import Path
from typing import Any, Generic, Literal

from jaxtyping import PRNGKeyArray

from .._custom_types import ModelT, OptimizerLike, OptState
from ..trainers._engine import Engine
from ._checkpoint import CheckpointError, CheckpointStore


@dataclasses.dataclass(frozen=True)
class LoadedCheckpoint(Generic[ModelT]):
    """What `load_checkpoint` restored.

    Attributes:
        model: the model with the checkpoint's parameters (for NNX, the object passed in,
            updated in place).
        opt_state: the optimizer state: the `nnx.Optimizer` passed in (updated in place)
            for NNX, the optax state for Equinox.
        step: the trainer's step counter when the checkpoint was written.
        epoch: the epoch after which it was written (None if it was not written by a fit).
        key: the trainer's base PRNG key.
        metadata: everything else the checkpoint holds (config, callback states, history).
    """

    model: ModelT
    opt_state: OptimizerLike | OptState
    step: int
    epoch: int | None
    key: PRNGKeyArray
    metadata: dict[str, Any]


def load_checkpoint(
    dirpath: str | os.PathLike[str],
    model: ModelT,
    optimizer: OptimizerLike,
    which: Literal["best", "latest"] | int = "latest",
) -> LoadedCheckpoint[ModelT]:
    """Restore a checkpoint written by `ModelCheckpoint` into `model` and `optimizer`.

    `model` and `optimizer` give the structure: build them as for training. An NNX model
    and `nnx.Optimizer` are updated in place; for Equinox the restored model and optax
    state are returned.

    Args:
        dirpath: the checkpoint folder.
        which: `"latest"`, `"best"` (by the monitored metric) or a step number.

    Raises:
        CheckpointError: when the folder holds no such (readable) checkpoint, or its
            contents do not fit the model and optimizer.
    """
    folder = Path(dirpath)
    if not folder.is_dir():
        raise CheckpointError(f"no checkpoint folder at {folder}")
    engine = Engine(model, optimizer)
    with CheckpointStore(folder) as store:
        state, metadata, _ = store.restore(engine.state, which=which)
    engine.load_state(state)
    # An optimizer that holds its state in place (nnx.Optimizer) is the restored state.
    live = engine.live_optimizer
    epoch = metadata.get("epoch")
    return LoadedCheckpoint(
        model=engine.model,
        opt_state=state.opt_state if live is None else live,
        step=int(state.step),
        epoch=None if epoch is None else int(epoch),
        key=state.key,
        metadata=metadata,
    )
