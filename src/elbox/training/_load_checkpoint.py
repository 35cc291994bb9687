"""Loading a checkpoint into a model and optimizer, outside a training loop."""

import dataclasses
import os
from pathlib import Path
from typing import Any, Generic, Literal

from jaxtyping import PRNGKeyArray

from .._custom_types import Model, ModelT, OptimizerLike, OptState
from ..core._precision import PrecisionName, PrecisionPolicy
from ..core._step_options import StepOptions
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
        ema_model: the model with the checkpoint's average of the parameters (None unless
            loaded with `ema_decay`).
    """

    model: ModelT
    opt_state: OptimizerLike | OptState
    step: int
    epoch: int | None
    key: PRNGKeyArray
    metadata: dict[str, Any]
    ema_model: Model | None = None


def load_checkpoint(
    dirpath: str | os.PathLike[str],
    model: ModelT,
    optimizer: OptimizerLike,
    which: Literal["best", "latest"] | int = "latest",
    *,
    ema_decay: float | None = None,
    precision: PrecisionName | PrecisionPolicy = "float32",
) -> LoadedCheckpoint[ModelT]:
    """Restore a checkpoint written by `ModelCheckpoint` into `model` and `optimizer`.

    `model` and `optimizer` give the structure: build them as for training (a stateful
    Equinox model as `WithState(model, state)`; its restored state is in the returned
    model). An NNX model and `nnx.Optimizer` are updated in place; for Equinox the
    restored model and optax state are returned.

    Args:
        dirpath: the checkpoint folder.
        which: `"latest"`, `"best"` (by the monitored metric) or a step number.
        ema_decay: the trainer's `ema_decay`, for a checkpoint with an average of the
            parameters (its value does not matter here, only that there is one); the
            averaged model is then `ema_model`.
        precision: the trainer's precision (a float16 checkpoint holds a loss scale).

    Raises:
        CheckpointError: when the folder holds no such (readable) checkpoint, or its
            contents do not fit the model and optimizer.
    """
    folder = Path(dirpath)
    if not folder.is_dir():
        raise CheckpointError(f"no checkpoint folder at {folder}")
    options = StepOptions.checked(ema_decay=ema_decay, precision=precision)
    engine = Engine(model, optimizer, options=options)
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
        ema_model=None if ema_decay is None else engine.ema_model,
    )
