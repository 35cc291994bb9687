"""A study's files: `study.csv` (a row per run), `study.md` (mean ± sd per setting), plots."""

import csv
import io
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or assumed

import matplotlib.pyplot as plt  # after choosing the backend

from ..._atomic import atomic_path, write_atomic
from ...likelihoods._by_name import likelihood_from_name
from .._likelihood import default_likelihood
from .._options import TrainOptions
from ._measure import CEILINGS, DESCRIPTIONS
from ._paired import Comparison, Difference, compare, comparisons
from ._spec import Setting, StudySpec

CSV_FILE = "study.csv"
MARKDOWN_FILE = "study.md"
PLOT_FILE = "study.png"

Row = dict[str, Any]

_SCORES = {"mig", "factor_vae", "beta_vae", "dci_disentanglement"}


def columns(spec: StudySpec, metric_names: Sequence[str]) -> list[str]:
    """The CSV's columns: the setting, its level on each axis, the seed, the metrics."""
    return [
        "setting",
        *(axis.name for axis in spec.axes),
        "seed",
        *metric_names,
        "seconds",
        "skipped_steps",
    ]


def read_rows(path: Path) -> list[Row]:
    """The rows of a `study.csv`, numbers as floats (the seed as an int)."""
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    parsed = []
    for row in rows:
        values: Row = {}
        for name, text in row.items():
            if name == "seed":
                values[name] = int(text)
            else:
                try:
                    values[name] = float(text)
                except ValueError:
                    values[name] = text
        parsed.append(values)
    return parsed


def write_rows(path: Path, header: Sequence[str], rows: Sequence[Row]) -> None:
    """Write a CSV (`study.csv`, `paired.csv`) whole, atomically."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(header))
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())


def _format(metric: str, mean: float, spread: float) -> str:
    digits = 3 if metric in _SCORES else 1 if metric == "active_units" else 2
    if math.isnan(mean):
        return ""
    if math.isnan(spread):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def summary(rows: Sequence[Row], metric: str) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN for one seed) of a metric over rows; both
    NaN where a row has none (a bound under a likelihood that is no distribution of the
    data), so that such a cell is left empty rather than averaged over fewer seeds."""
    values = [float(row[metric]) for row in rows]
    if not values or any(math.isnan(value) for value in values):
        return math.nan, math.nan
    spread = statistics.stdev(values) if len(values) > 1 else math.nan
    return statistics.fmean(values), spread


# A table shows at most this many metrics: wider ones run off the documentation site's
# content column, so the metrics are split over several tables of the same rows.
MAX_TABLE_METRICS = 4


def metric_groups(metric_names: Sequence[str], maximum: int = MAX_TABLE_METRICS) -> list[list[str]]:
    """`metric_names` in order, split into as few groups of at most `maximum` as can be,
    the later groups the larger (6 metrics: 3 + 3; 7: 3 + 4)."""
    count = math.ceil(len(metric_names) / maximum)
    sizes = [
        len(metric_names) // count + (1 if index >= count - len(metric_names) % count else 0)
        for index in range(count)
    ]
    groups, start = [], 0
    for size in sizes:
        groups.append(list(metric_names[start : start + size]))
        start += size
    return groups


def _table(
    labels: Sequence[str], groups: Sequence[Sequence[Row]], metric_names: Sequence[str], head: str
) -> list[str]:
    lines: list[str] = []
    for names in metric_groups(metric_names):
        if lines:
            lines.append("")
        lines += [
            f"| {head} | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for label, mine in zip(labels, groups, strict=True):
            if mine:
                cells = [_format(name, *summary(mine, name)) for name in names]
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def likelihoods_line(spec: StudySpec, settings: Sequence[Setting]) -> str:
    """The sentence of `study.md` that names the likelihood every number is under."""
    names = []
    for setting in settings:
        chosen = {**spec.base, **setting.options}
        name = chosen.get("likelihood") or chosen.get("loss_type")
        if name is None:  # the default of the study's data (bundled, in [0, 1])
            default = default_likelihood(TrainOptions(**chosen), in_unit_interval=True)
            name = default.get("likelihood", default.get("loss_type"))
        names.append(str(name))
    distinct = list(dict.fromkeys(names))
    if len(distinct) > 1:
        return (
            "Likelihood: as each setting sets it (" + ", ".join(f"`{n}`" for n in distinct) + ")."
        )
    distribution = likelihood_from_name(distinct[0]).describe()  # type: ignore[arg-type]  # a checked option
    return f"Likelihood: `{distinct[0]}`, {distribution}, in every setting."


def format_duration(seconds: float) -> str:
    """A study's wall time as the pages quote it: `45 s`, `3 min 18 s`, `1 h 5 min`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min"


def _signed(metric: str, value: float) -> str:
    digits = 3 if metric in _SCORES else 1 if metric == "active_units" else 2
    return f"{value:+.{digits}f}"


def paired_cell(metric: str, difference: Difference) -> str:
    """`**+0.28** [+0.25, +0.32]`: the mean paired difference, bold where its interval
    excludes 0, and the interval (the mean alone for one seed)."""
    mean = _signed(metric, difference.mean)
    if difference.count < 2:
        return mean
    interval = f"[{_signed(metric, difference.low)}, {_signed(metric, difference.high)}]"
    return f"**{mean}** {interval}" if difference.resolved else f"{mean} {interval}"


# Paired cells are wider than the means' cells: at most this many metrics per table.
MAX_PAIRED_METRICS = 3


def paired_metrics(metric_names: Sequence[str]) -> list[str]:
    """The metrics that are compared between settings (not the constant ceilings)."""
    return [name for name in metric_names if name not in CEILINGS.values()]


def _paired_tables(
    found: Sequence[Comparison], rows: Sequence[Row], metric_names: Sequence[str]
) -> list[str]:
    lines: list[str] = []
    names = paired_metrics(metric_names)
    groups = list(dict.fromkeys(comparison.group for comparison in found))
    for group in groups:
        mine = [comparison for comparison in found if comparison.group == group]
        title = "Other objectives" if group == "extra" else f"`{group}`"
        held = mine[0].held
        head = "comparison" if not held else f"{group} ({', '.join(held)})"
        lines += ["", f"{title}: each row is (setting - reference), seed by seed:", ""]
        for index, chosen in enumerate(metric_groups(names, MAX_PAIRED_METRICS)):
            if index:
                lines.append("")
            lines += [
                f"| {head} | " + " | ".join(chosen) + " |",
                "|---|" + "---:|" * len(chosen),
            ]
            for comparison in mine:
                cells = []
                for metric in chosen:
                    difference = compare(comparison, rows, metric)
                    cells.append("" if difference is None else paired_cell(metric, difference))
                lines.append(f"| {comparison.name} | " + " | ".join(cells) + " |")
    return lines


def markdown(
    spec: StudySpec,
    settings: Sequence[Setting],
    rows: Sequence[Row],
    metric_names: Sequence[str],
    *,
    command: str,
    epochs: int,
    seconds: float | None = None,
    notes: Sequence[str] = (),
) -> str:
    """`study.md`: the table of means ± standard deviations over seeds, per setting, and the
    paired differences between settings (see `_paired`).

    `seconds` is the study's wall time, when known; `notes` are sentences for the header
    (the scoring budgets, the examples of the mutual information). The tables are marked
    as sections (`table`, `paired`, `metrics`) that other pages can include.
    """
    seeds = sorted({int(row["seed"]) for row in rows})
    labels = [setting.label for setting in settings]
    by_setting = [[row for row in rows if row["setting"] == label] for label in labels]
    took = "" if seconds is None else f" in {format_duration(seconds)}"
    lines = [
        f"# Study `{spec.name}`",
        "",
        spec.description,
        "",
        f"{len(seeds)} seeds ({', '.join(map(str, seeds))}), {epochs} epochs, made by "
        f"`{command}`{took}. Each cell is the mean ± the standard deviation over the seeds.",
        *(["", *notes] if notes else []),
        "",
        likelihoods_line(spec, settings),
        "",
        "<!-- --8<-- [start:table] -->",
        *_table(labels, by_setting, metric_names, "setting"),
        "<!-- --8<-- [end:table] -->",
    ]
    found = comparisons(spec, settings)
    if found:
        count = len(seeds)
        lines += [
            "",
            "<!-- --8<-- [start:paired] -->",
            f"Paired differences: seed S of a setting starts from the same initial parameters "
            f"and draws the same batches as seed S of its reference, so each cell is the mean "
            f"over the {count} seeds of (setting - reference), with the 95% t-interval over "
            f"the seeds' differences ({max(count - 1, 0)} degrees of freedom) in brackets; "
            f"**bold** where the interval excludes 0. The others are not resolved with "
            f"{count} seeds.",
            *_paired_tables(found, rows, metric_names),
            "<!-- --8<-- [end:paired] -->",
        ]
    lines += ["", "<!-- --8<-- [start:metrics] -->", "Metrics:", ""]
    lines += [f"- `{name}`: {DESCRIPTIONS[name]}" for name in metric_names]
    lines += ["<!-- --8<-- [end:metrics] -->"]
    return "\n".join(lines) + "\n"


def _position(spec: StudySpec, setting: Setting) -> tuple[str, str]:
    """Where a setting goes in the plot: its x category and its colour group.

    With two axes or more, the first axis is along x and the others make the colour
    groups; otherwise each setting is its own category.
    """
    if len(spec.axes) >= 2 and setting.levels:
        first = spec.axes[0].name
        rest = ", ".join(value for name, value in setting.levels.items() if name != first)
        return setting.levels[first], rest
    return setting.label, ""


def plot(
    spec: StudySpec,
    settings: Sequence[Setting],
    rows: Sequence[Row],
    metric_names: Sequence[str],
    path: Path,
) -> Path:
    """One panel per metric: the mean over seeds with its standard deviation, per setting,
    and each seed's value as a dot."""
    places = {setting.label: _position(spec, setting) for setting in settings}
    categories = list(dict.fromkeys(category for category, _ in places.values()))
    groups = list(dict.fromkeys(group for _, group in places.values()))
    width = 0.8 / len(groups)
    colours = plt.get_cmap("tab10")
    columns_count = min(3, len(metric_names))
    rows_count = math.ceil(len(metric_names) / columns_count)
    figure, axes = plt.subplots(
        rows_count, columns_count, figsize=(4.6 * columns_count, 3.6 * rows_count), squeeze=False
    )
    for panel, metric in zip(axes.flat, metric_names, strict=False):
        labelled: set[str] = set()
        for setting in settings:
            mine = [row for row in rows if row["setting"] == setting.label]
            if not mine:
                continue
            category, group = places[setting.label]
            index = groups.index(group)
            x = categories.index(category) + (index - (len(groups) - 1) / 2) * width
            mean, spread = summary(mine, metric)
            colour = colours(index % 10)
            label = group if group and group not in labelled else None
            labelled.add(group)
            panel.errorbar(
                [x],
                [mean],
                yerr=None if math.isnan(spread) else [spread],
                fmt="o",
                color=colour,
                capsize=4,
                label=label,
            )
            seeds = [float(row[metric]) for row in mine]
            panel.scatter([x] * len(seeds), seeds, s=8, color=colour, alpha=0.4)
        ceiling = _ceiling(rows, metric)
        if ceiling is not None:
            # The estimate cannot exceed it: values near the line are saturated.
            panel.axhline(ceiling, color="black", linestyle="--", linewidth=1)
            panel.annotate(
                f"ceiling log N = {ceiling:.2f}",
                (0.02, ceiling),
                xycoords=("axes fraction", "data"),
                va="bottom",
                fontsize=8,
            )
        panel.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
        panel.set_title(metric)
        panel.grid(axis="y", alpha=0.3)
    for panel in list(axes.flat)[len(metric_names) :]:
        panel.set_visible(False)
    if len(groups) > 1:
        axes.flat[0].legend(title=", ".join(axis.name for axis in spec.axes[1:]), fontsize=8)
    figure.suptitle(f"elbox study {spec.name}: mean ± standard deviation over seeds")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=110, bbox_inches="tight", format=path.suffix[1:])
    finally:
        plt.close(figure)
    return path


def _ceiling(rows: Sequence[Row], metric: str) -> float | None:
    """The ceiling of `metric`'s estimate, when the rows hold it (the largest of them)."""
    column = CEILINGS.get(metric)
    values = [float(row[column]) for row in rows if column is not None and column in row]
    finite = [value for value in values if math.isfinite(value)]
    return max(finite) if finite else None


def complete_settings(rows: Sequence[Row], seeds: Sequence[int]) -> set[str]:
    """The settings whose every seed has a row."""
    seen: dict[str, set[int]] = {}
    for row in rows:
        seen.setdefault(str(row["setting"]), set()).add(int(row["seed"]))
    return {label for label, have in seen.items() if set(seeds) <= have}


def describe_levels(levels: Mapping[str, str]) -> str:
    """`axis=level, ...` of a setting, for progress lines."""
    return ", ".join(f"{name}={value}" for name, value in levels.items())
