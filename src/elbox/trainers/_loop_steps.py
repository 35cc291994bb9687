"""What a trainer hands the training loop: its engine and its steps, as plain values."""

import dataclasses
from collections.abc import Callable
from typing import Any

from .._custom_types import Batch, Weights
from ..core._step_options import StepOptions
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
        weights: the parameters validation evaluates: `("trained",)`, and `"ema"` too
            when the steps keep an average (logged as `val_ema_...`).
    """

    engine: Engine
    train_step: TrainStep
    evaluation_step: TrainStep
    prepare: Callable[[Batch, int], Batch]
    donate: bool = True
    hidden_metrics: frozenset[str] = frozenset()
    loss_type: str | None = None
    config: dict[str, Any] | None = None
    weights: tuple[Weights, ...] = ("trained",)


def evaluation_weights(options: StepOptions) -> tuple[Weights, ...]:
    """The parameters validation evaluates: the trained ones, and their average if kept."""
    return ("trained",) if options.average is None else ("trained", "ema")


def step_options_record(options: StepOptions) -> dict[str, Any]:
    """The step options that differ from the defaults, as JSON-ready values (stored with
    checkpoints and compared on resume; empty for a plain step)."""
    record: dict[str, Any] = {}
    if options.average is not None:
        record["ema_decay"] = options.average.decay
        record["ema_warmup"] = options.average.warmup
    if options.accumulate != 1:
        record["accumulate"] = options.accumulate
    if options.precision.compute != "float32":
        record["precision"] = options.precision.compute
    return record
