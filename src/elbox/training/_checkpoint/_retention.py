"""Which checkpoints a store keeps: the newest ones, and the best ones by a metric.

orbax's own LatestN and BestN are close to what is needed but not the same: LatestN keeps
the last entries of orbax's list, which is in save order rather than step order once a
step is re-saved; BestN keeps every checkpoint (metric or not) while there are at most
`n`, and all of them when `n` is None. These two policies rank by step number and by the
monitored metric alone; orbax's AnyPreservationPolicy keeps a checkpoint that either keeps.
"""

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Literal, final

from orbax.checkpoint import checkpoint_managers as ocp_managers


def metric(metrics: Any, monitor: str) -> float | None:
    """`metrics[monitor]` as a float, or None where it is missing or NaN."""
    if not isinstance(metrics, Mapping):
        return None
    value = metrics.get(monitor)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def metric_or_nan(metrics: Any, monitor: str) -> float:
    """`metric`, with NaN for a missing value (orbax's `best_fn` needs a float)."""
    value = metric(metrics, monitor)
    return math.nan if value is None else value


def ranked(scores: Mapping[int, float | None], mode: Literal["min", "max"]) -> list[int]:
    """The steps that have a score, best first; a tie goes to the earlier step."""
    sign = 1.0 if mode == "min" else -1.0
    scored = [(sign * score, step) for step, score in scores.items() if score is not None]
    return [step for _, step in sorted(scored)]


@final
@dataclasses.dataclass(frozen=True)
class LatestSteps:
    """An orbax preservation policy: keep the `n` checkpoints with the highest steps."""

    n: int

    def should_preserve(
        self, checkpoints: Sequence[Any], *, context: ocp_managers.PreservationContext
    ) -> list[bool]:
        newest = set(sorted((info.step for info in checkpoints), reverse=True)[: self.n])
        return [info.step in newest for info in checkpoints]


@final
@dataclasses.dataclass(frozen=True)
class BestSteps:
    """An orbax preservation policy: keep the best `k` checkpoints by `metrics[monitor]`.

    `k=None` keeps every checkpoint that has the metric. Checkpoints without it (or with a
    NaN) are never kept by this policy.
    """

    monitor: str
    mode: Literal["min", "max"]
    k: int | None

    def should_preserve(
        self, checkpoints: Sequence[Any], *, context: ocp_managers.PreservationContext
    ) -> list[bool]:
        scores = {info.step: metric(info.metrics, self.monitor) for info in checkpoints}
        best = ranked(scores, self.mode)
        kept = set(best if self.k is None else best[: self.k])
        return [info.step in kept for info in checkpoints]
