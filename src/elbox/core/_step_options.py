"""What a training step does besides the plain step: the weight average it keeps, the
micro-batches it accumulates, the precision it computes in."""

import dataclasses
import math
import numbers
from typing import TypedDict, final

from .._custom_types import NonFinite
from .._validation import checked_int
from ._ema import WeightAverage
from ._precision import DynamicLossScale, PrecisionName, PrecisionPolicy, precision_policy


class StepArguments(TypedDict):
    """`StepOptions` as the keyword arguments of `TrainStep` and the trainers."""

    ema_decay: float | None
    ema_warmup: bool
    accumulate: int
    precision: PrecisionName | PrecisionPolicy


@final
@dataclasses.dataclass(frozen=True)
class StepOptions:
    """The options of a `TrainStep` beyond its loss and optimizer, checked: what
    `TrainStep.options` and `Engine.options` hold.

    `StepOptions.checked(ema_decay=..., ema_warmup=..., accumulate=..., precision=...)`
    makes one from the keyword arguments of `TrainStep` and the trainers. The trainers
    give theirs to their engine (the state's layout depends on it: an average of the
    parameters, a loss scale) and to every `TrainStep` they build.

    Attributes:
        average: the weight average the steps keep (None: no EMA).
        accumulate: micro-batches per optimizer update.
        precision: the mixed-precision policy.
    """

    average: WeightAverage | None = None
    accumulate: int = 1
    precision: PrecisionPolicy = dataclasses.field(default_factory=PrecisionPolicy)

    @classmethod
    def checked(
        cls,
        *,
        ema_decay: object = None,
        ema_warmup: object = True,
        accumulate: object = 1,
        precision: object = "float32",
        nonfinite: NonFinite = "skip",
    ) -> "StepOptions":
        """The options from the trainers' keyword arguments, or a ValueError naming the
        one that is wrong."""
        average = None
        if ema_decay is not None:
            if (
                isinstance(ema_decay, bool)
                or not isinstance(ema_decay, numbers.Real)
                or not math.isfinite(ema_decay)
                or not 0.0 <= float(ema_decay) < 1.0
            ):
                raise ValueError(f"ema_decay must be a number in [0, 1) or None; got {ema_decay!r}")
            if not isinstance(ema_warmup, bool):
                raise ValueError(f"ema_warmup must be True or False; got {ema_warmup!r}")
            average = WeightAverage(float(ema_decay), ema_warmup)
        policy = precision_policy(precision)
        if policy.scales_loss and nonfinite != "skip":
            raise ValueError(
                "precision='float16' scales the loss and skips the steps whose gradients "
                f"overflow, so it needs nonfinite='skip'; got nonfinite={nonfinite!r}"
            )
        return cls(average, checked_int("", "accumulate", accumulate, 1), policy)

    @property
    def initial_loss_scale(self) -> DynamicLossScale | None:
        """The loss scale of a state at step 0 (float16 only)."""
        return self.precision.initial_scale()


def step_arguments(options: StepOptions) -> StepArguments:
    """`options` as `TrainStep`'s keyword arguments."""
    average = options.average
    return StepArguments(
        ema_decay=None if average is None else average.decay,
        ema_warmup=True if average is None else average.warmup,
        accumulate=options.accumulate,
        precision=options.precision,
    )
