"""Non-finite training steps: the error raised for them, and its message."""

import math
from collections.abc import Mapping, Sequence

import numpy as np
from jaxtyping import Array


class NonFiniteStepError(FloatingPointError):
    """A training step's loss or gradients were not finite.

    Raised by the trainers after a step with `nonfinite="raise"`, and by `Trainer.fit`
    after `max_consecutive_skips` skipped steps in a row. The model and optimizer state are
    those from before the offending steps: a skipped step changes neither.

    Attributes:
        steps: the numbers of the steps concerned, in order.
    """

    def __init__(self, message: str, *, steps: Sequence[int]) -> None:
        super().__init__(message)
        self.steps: list[int] = list(steps)


def first_skipped(metrics: Mapping[str, Array], first_step: int) -> tuple[int, float] | None:
    """The step number and loss of the first skipped step in `metrics`, or None.

    `metrics` are a step's (scalars) or fused steps' (one value per step) metrics, holding
    `skipped` and `loss`; reading them waits for the steps to finish.
    """
    skipped = np.atleast_1d(np.asarray(metrics["skipped"]))
    if not skipped.any():
        return None
    index = int(np.argmax(skipped))
    loss = float(np.atleast_1d(np.asarray(metrics["loss"]))[index])
    return first_step + index, loss


def describe_nonfinite(step: int, loss: float) -> str:
    """Which of loss and gradients was not finite at `step`, in words."""
    if not math.isfinite(loss):
        return f"step {step}: the loss was {loss}"
    return f"step {step}: the loss was finite ({loss:.6g}) but a gradient was not"
