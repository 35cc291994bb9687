"""The `elbox train` options of the training step: BatchNorm, weight averaging, gradient
accumulation and mixed precision."""

import dataclasses
import math
from typing import Literal


@dataclasses.dataclass(frozen=True)
class StepFeatureOptions:
    """training step"""

    batch_norm: bool = False
    """--framework equinox, --model mlp: the reference MLP with BatchNorm after each hidden
    layer (a stateful Equinox model; evaluation uses its running statistics)."""
    ema_decay: float | None = dataclasses.field(default=None, metadata={"metavar": "DECAY"})
    """Keep an exponential moving average of the weights with this decay (e.g. 0.999, with
    TensorFlow's warm-up); the best checkpoint, the evaluation and the plots use it."""
    accumulate: int = dataclasses.field(default=1, metadata={"metavar": "K"})
    """Accumulate the gradients of K batches of --batch-size into each optimizer update;
    steps, epochs and the KL schedule count updates."""
    precision: Literal["float32", "bfloat16", "float16"] = "float32"
    """The model computes in bfloat16, or float16 with dynamic loss scaling; weights,
    optimizer state, loss and KL stay float32."""


def check_step_options(options: StepFeatureOptions) -> list[str]:
    """Out-of-range values and contradictions of these options, as messages."""
    problems: list[str] = []
    if options.batch_norm and getattr(options, "framework", "equinox") != "equinox":
        problems.append(
            "--batch-norm: the BatchNorm reference model is an Equinox model; add "
            "--framework equinox"
        )
    if options.batch_norm and getattr(options, "model", "mlp") != "mlp":
        problems.append("--batch-norm: the BatchNorm reference model is an MLP; use --model mlp")
    decay = options.ema_decay
    if decay is not None and not (math.isfinite(decay) and 0.0 <= decay < 1.0):
        problems.append(f"--ema-decay must be in [0, 1); got {decay}")
    if options.accumulate < 1:
        problems.append(f"--accumulate must be >= 1; got {options.accumulate}")
    return problems
