"""What a trainer hands the training loop: its step functions with the loop's options bound."""

import dataclasses
from collections.abc import Callable
from typing import Any

from jaxtyping import Array

from .._custom_types import Batch, Metrics


@dataclasses.dataclass(frozen=True)
class LoopSteps:
    """A trainer's steps as `Trainer.fit` runs them, with the loss and donation bound.

    A trainer's `loop_steps(loss_type=..., donate=...)` returns one; the loop calls these
    functions and never needs to know which kind of trainer made them.

    Attributes:
        train_step: one step on a batch; returns its metrics (JAX scalars, not yet read).
        train_steps: K steps on K batches stacked on a leading axis, in one dispatch;
            returns the metrics, each of shape `(K,)`.
        evaluate: the validation metrics of a batch, updating nothing.
        loss_type: the reconstruction loss's name, for checkpoint metadata (None when the
            trainer has no such choice or it is not a name).
        config: the trainer's configuration as JSON-ready values, stored with checkpoints
            and compared on resume (None when it has none).
    """

    train_step: Callable[[Batch], Metrics]
    train_steps: Callable[[Batch], dict[str, Array]]
    evaluate: Callable[[Batch], Metrics]
    loss_type: str | None = None
    config: dict[str, Any] | None = None
