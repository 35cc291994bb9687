"""What a trainer hands the training loop: its engine and its steps, as plain values."""

import dataclasses
from collections.abc import Callable
from typing import Any

from .._custom_types import Batch
from ..core._train_step import TrainStep
from ._engine import Engine


@dataclasses.dataclass(frozen=True)
class LoopSteps:
    """A trainer's steps as `Trainer.fit` runs them: values, not callbacks into the trainer.

    A trainer's `loop_steps(loss_type=..., donate=...)` returns one. The loop runs
    `engine.train(train_step, prepare(batch, 1), ...)` for each batch (or
    `engine.train_fused` on K stacked batches, `prepare(batches, 2)`), and
    `engine.evaluate(evaluation_step, ...)` on validation batches, leaving out
    `hidden_metrics`; it never needs to know which kind of trainer made them.

    Attributes:
        engine: the engine that holds the training state and runs the steps.
        train_step: the `TrainStep` of one optimisation step.
        evaluation_step: the `TrainStep` whose `evaluate` gives the validation metrics.
        prepare: `prepare(batch, leading_axes)` checks a batch (1 leading axis) or K
            stacked batches (2) and returns what the steps take, with a clear error for
            anything else.
        donate: donate the state's buffers to each step.
        hidden_metrics: evaluation metrics that describe the step rather than the data
            (the KL weight, say), left out of the validation logs.
        loss_type: the reconstruction loss in words, for checkpoint metadata: its name, or
            what a likelihood object describes (None when the trainer has no such choice).
        config: the trainer's configuration as JSON-ready values, stored with checkpoints
            and compared on resume (None when it has none).
    """

    engine: Engine
    train_step: TrainStep
    evaluation_step: TrainStep
    prepare: Callable[[Batch, int], Batch]
    donate: bool = True
    hidden_metrics: frozenset[str] = frozenset()
    loss_type: str | None = None
    config: dict[str, Any] | None = None
