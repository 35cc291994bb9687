"""Paired comparisons of a study's settings: the runs pair by seed.

Seed S of every setting starts from the same initial parameters and draws the same batches
in the same order (`_seeds`), so two settings' runs pair by seed, and the difference of a
metric between them, seed by seed, leaves out what the seeds share. A comparison reports
the mean of those differences and its 95% confidence interval from Student's t
distribution with n - 1 degrees of freedom, over the n seeds' differences (the paired
t-interval): mean ± t(0.975; n - 1) · sd / sqrt(n). The difference is *resolved* when the
interval excludes 0; otherwise it is not resolved with n seeds.

Which settings are compared (`comparisons`): along each axis, each level against the
axis's reference levels (its first, unless the axis names others) with every other axis
held at the same level; each extra setting against the study's reference settings (the
first setting, unless the study names others).
"""

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from ._spec import Setting, StudySpec

CONFIDENCE = 0.95
"""The coverage of the intervals."""


def _two_sided_probability(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with `df` degrees of freedom (Abramowitz and Stegun
    26.7.3 and 26.7.4: a finite series for whole degrees of freedom)."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for k in range(2, df, 2):
            term *= cos2 * (k - 1) / k
            total += term
        return math.sin(theta) * total
    if df == 1:
        return 2.0 * theta / math.pi
    term, total = 1.0, 1.0
    for k in range(3, df, 2):
        term *= cos2 * (k - 1) / k
        total += term
    return 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)


def t_critical(df: int, confidence: float = CONFIDENCE) -> float:
    """The t with P(|T| <= t) = `confidence` for Student's t with `df` degrees of freedom
    (12.706 for 1, 4.303 for 2, 2.262 for 9 at 95%), to 1e-12 by bisection."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1; got {df}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    low, high = 0.0, 1.0
    while _two_sided_probability(high, df) < confidence:
        high *= 2.0
    while high - low > 1e-12 * high:
        middle = 0.5 * (low + high)
        if _two_sided_probability(middle, df) < confidence:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@dataclasses.dataclass(frozen=True)
class Difference:
    """The paired difference of one metric between two settings, over the seeds they share.

    Attributes:
        values: each seed's difference (the setting's value minus the reference's).
        mean: their mean.
        sd: their sample standard deviation (NaN for one seed).
        low, high: the 95% t-interval of the mean (NaN for one seed).
    """

    values: tuple[float, ...]
    mean: float
    sd: float
    low: float
    high: float

    @property
    def count(self) -> int:
        """How many seeds pair."""
        return len(self.values)

    @property
    def resolved(self) -> bool:
        """Whether the interval excludes 0 (never with one seed)."""
        return self.low > 0.0 or self.high < 0.0


def paired_difference(values: Sequence[float], reference: Sequence[float]) -> Difference:
    """The mean of `values[i] - reference[i]` with its 95% t-interval.

    Raises:
        ValueError: for sequences of different lengths, or empty ones.
    """
    if len(values) != len(reference) or not values:
        raise ValueError(
            f"paired values must be as many as their reference, and some; got {len(values)} "
            f"and {len(reference)}"
        )
    differences = tuple(a - b for a, b in zip(values, reference, strict=True))
    mean = statistics.fmean(differences)
    if len(differences) < 2:
        return Difference(differences, mean, math.nan, math.nan, math.nan)
    sd = statistics.stdev(differences)
    half = t_critical(len(differences) - 1) * sd / math.sqrt(len(differences))
    return Difference(differences, mean, sd, mean - half, mean + half)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A setting against its reference.

    Attributes:
        group: what varies, for the tables: an axis name, or `extra` for settings beyond the
            grid.
        held: the axes held at one level (the other axes), in order.
        setting: the label of the compared setting.
        reference: the label of the reference setting.
        name: the row's name in the tables, `level vs reference (the held axes' levels)`.
    """

    group: str
    setting: str
    reference: str
    name: str
    held: tuple[str, ...] = ()


def _held(setting: Setting, axis: str) -> str:
    return ", ".join(level for name, level in setting.levels.items() if name != axis)


def comparisons(spec: StudySpec, settings: Sequence[Setting]) -> list[Comparison]:
    """The settings' comparisons, in table order (see the module's description)."""
    by_levels = {tuple(setting.levels.items()): setting for setting in settings if setting.levels}
    found: list[Comparison] = []
    for axis in spec.axes:
        order = [level.label for level in axis.levels]
        references = axis.references or order[:1]
        for reference in references:
            for setting in settings:
                level = setting.levels.get(axis.name)
                if level is None or order.index(level) <= order.index(reference):
                    continue
                base = dict(setting.levels, **{axis.name: reference})
                other = by_levels.get(tuple(base.items()))
                if other is None:
                    continue
                held = _held(setting, axis.name)
                name = f"{level} vs {reference}" + (f" ({held})" if held else "")
                others = tuple(name for name in setting.levels if name != axis.name)
                found.append(Comparison(axis.name, setting.label, other.label, name, others))
    extras = [setting for setting in settings if not setting.levels]
    labels = [setting.label for setting in settings]
    references = spec.references or tuple(labels[:1])
    for setting in extras:
        for reference in references:
            if reference != setting.label and reference in labels:
                name = f"{setting.label} vs {reference}"
                found.append(Comparison("extra", setting.label, reference, name))
    return found


def compare(
    comparison: Comparison, rows: Sequence[Mapping[str, Any]], metric: str
) -> Difference | None:
    """The paired difference of `metric` for `comparison`, over the seeds both settings
    have a value for; None when they share none."""
    mine = {
        int(row["seed"]): float(row[metric]) for row in rows if row["setting"] == comparison.setting
    }
    theirs = {
        int(row["seed"]): float(row[metric])
        for row in rows
        if row["setting"] == comparison.reference
    }
    # A seed without the metric (NaN: a bound under a likelihood that is no distribution
    # of the data) pairs with nothing.
    seeds = sorted(
        seed
        for seed in mine.keys() & theirs.keys()
        if not (math.isnan(mine[seed]) or math.isnan(theirs[seed]))
    )
    if not seeds:
        return None
    return paired_difference([mine[s] for s in seeds], [theirs[s] for s in seeds])


PAIRED_COLUMNS = (
    "group",
    "setting",
    "reference",
    "metric",
    "seeds",
    "mean",
    "sd",
    "low",
    "high",
    "resolved",
)
"""The columns of `paired.csv`."""


def paired_rows(
    found: Sequence[Comparison], rows: Sequence[Mapping[str, Any]], metric_names: Sequence[str]
) -> list[dict[str, Any]]:
    """A row of `paired.csv` per comparison and metric (where the settings share seeds)."""
    table: list[dict[str, Any]] = []
    for comparison in found:
        for metric in metric_names:
            difference = compare(comparison, rows, metric)
            if difference is None:
                continue
            table.append(
                {
                    "group": comparison.group,
                    "setting": comparison.setting,
                    "reference": comparison.reference,
                    "metric": metric,
                    "seeds": difference.count,
                    "mean": difference.mean,
                    "sd": difference.sd,
                    "low": difference.low,
                    "high": difference.high,
                    "resolved": difference.resolved,
                }
            )
    return table
