"""Loading a checkpoint into a model and optimizer, outside a training loop."""

import dataclasses
import os
from pathlib import Path
from typing import Any, Generic, Literal

import jax
import optax
from flax import nnx
from jaxtyping import PRNGKeyArray

from .._custom_types import ModelT
from ..core._train_state import TrainState
from ..trainers._engine import make_state_holder
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
    opt_state: Any
    step: int
    epoch: int | None
    key: PRNGKeyArray
    metadata: dict[str, Any]


def load_checkpoint(
    dirpath: str | os.PathLike[str],
    model: ModelT,
    optimizer: nnx.Optimizer[Any] | optax.GradientTransformation,
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
    holder = make_state_holder(model, optimizer, jax.random.key(0))
    like: TrainState = jax.tree.unflatten(holder.treedef, holder.read())
    with CheckpointStore(folder) as store:
        state, metadata, _ = store.restore(like, which=which)
    holder.write(jax.tree.leaves(state))
    restored_opt_state = optimizer if isinstance(optimizer, nnx.Optimizer) else state.opt_state
    epoch = metadata.get("epoch")
    return LoadedCheckpoint(
        model=holder.model,
        opt_state=restored_opt_state,
        step=int(state.step),
        epoch=None if epoch is None else int(epoch),
        key=state.key,
        metadata=metadata,
    )
