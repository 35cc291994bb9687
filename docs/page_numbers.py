"""Numbers in the pages' prose, read from the files that hold them.

A page writes `{{ mean("collapse", "kl", "kl_annealing=none, free_bits=off") }}` where
a number goes; `hooks.py` replaces each such call with its value while the site is
built, and `tests/test_docs_numbers.py` checks that the pages hold no number outside
them (apart from a short, reasoned list: citations, definitions). The calls read:

- a study's files under `docs/studies/NAME/` (`study.csv`, `study.json`), with the
  report code that wrote `study.md` (`mean`, `value`, `diff`, `seed_diffs`,
  `seed_range`, `seeds`, `epochs`, `time`, `machine`, `levels`, `option`, `data`,
  `budget`, `examples`, `ceiling`);
- the code itself: a constant, a function's default, a built-in study's axis (`code`,
  `default`, `axis`);
- a JSON file under `docs/` that a command wrote (`json`): benchmarks, the theory
  checks.

`diff(study, metric, setting, reference, expect)` is a paired difference over the seeds
with its 95% t-interval, and `expect` states what the sentence around it claims: `"+"`
(resolved, positive), `"-"` (resolved, negative) or `"0"` (not resolved). A call whose
claim the files no longer bear out fails the build, so a re-run study that changes a
conclusion cannot leave the old sentence standing.

Only calls of the functions in `FUNCTIONS`, with literal arguments, are allowed.
"""

import ast
import functools
import importlib
import inspect
import json as json_module
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import page_examples
from elbox.cli._study._command import SPEC_FILE
from elbox.cli._study._paired import Difference, paired_difference
from elbox.cli._study._report import (
    CSV_FILE,
    Row,
    format_duration,
    read_rows,
    summary,
)

DOCS = Path(__file__).resolve().parent
STUDIES = DOCS / "studies"

CALL = re.compile(r"\{\{(?P<call>.+?)\}\}", re.DOTALL)
"""Where a page asks for a number: `{{ call }}`."""


class NumberError(ValueError):
    """A call on a page that cannot be answered from the files, or whose claim the files
    do not bear out."""


FUNCTIONS: dict[str, Callable[..., str]] = {}
"""The functions a page may call, by name."""


def _function(function: Callable[..., str]) -> Callable[..., str]:
    FUNCTIONS[function.__name__.rstrip("_")] = function
    return function


# -- a study's files ---------------------------------------------------------------


@functools.cache
def _record(study: str) -> dict[str, Any]:
    path = STUDIES / study / SPEC_FILE
    if not path.exists():
        raise NumberError(f"no study {study!r}: {path} does not exist")
    loaded: dict[str, Any] = json_module.loads(path.read_text())
    return loaded


@functools.cache
def _rows(study: str) -> tuple[Row, ...]:
    _record(study)  # the study exists
    return tuple(read_rows(STUDIES / study / CSV_FILE))


def _runs(study: str, setting: str, metric: str) -> dict[int, float]:
    rows = [row for row in _rows(study) if row["setting"] == setting]
    if not rows:
        known = sorted({str(row["setting"]) for row in _rows(study)})
        raise NumberError(
            f"study {study!r} has no setting {setting!r}; it has {known}"
        )
    if metric not in rows[0]:
        raise NumberError(f"study {study!r} has no metric {metric!r}")
    return {int(row["seed"]): float(row[metric]) for row in rows}


def _digits(metric: str) -> int:
    scores = {"mig", "factor_vae", "beta_vae", "dci_disentanglement"}
    return 3 if metric in scores else 1 if metric == "active_units" else 2


def _number(value: float, digits: int, sign: bool = False) -> str:
    text = f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"
    return text


@_function
def mean(study: str, metric: str, setting: str) -> str:
    """`16.7 ± 4.0`: the mean ± sd over the seeds, as the study's table shows it."""
    values = _runs(study, setting, metric)
    rows = [{metric: value} for value in values.values()]
    centre, spread = summary(rows, metric)
    digits = _digits(metric)
    return f"{_number(centre, digits)} ± {_number(spread, digits)}"


@_function
def value(study: str, metric: str, setting: str) -> str:
    """`16.7`: the mean over the seeds alone."""
    values = _runs(study, setting, metric).values()
    return _number(sum(values) / len(values), _digits(metric))


def _difference(
    study: str, metric: str, setting: str, reference: str
) -> Difference:
    mine, theirs = (
        _runs(study, label, metric) for label in (setting, reference)
    )
    seeds = sorted(mine.keys() & theirs.keys())
    if not seeds:
        raise NumberError(f"{setting!r} and {reference!r} share no seed")
    return paired_difference(
        [mine[s] for s in seeds], [theirs[s] for s in seeds]
    )


@_function
def diff(
    study: str, metric: str, setting: str, reference: str, expect: str
) -> str:
    """`+0.28 (95% interval +0.24 to +0.32)`: the paired difference over the seeds,
    checked against the sentence's claim `expect` (`+`, `-` or `0`)."""
    difference = _difference(study, metric, setting, reference)
    found = (
        "0" if not difference.resolved else "+" if difference.mean > 0 else "-"
    )
    if expect not in ("+", "-", "0"):
        raise NumberError(f"expect must be '+', '-' or '0'; got {expect!r}")
    if found != expect:
        said = {"+": "a resolved increase", "-": "a resolved decrease"}
        raise NumberError(
            f"the page claims {said.get(expect, 'no resolved difference')} of "
            f"{metric} for {setting!r} against {reference!r} in study "
            f"{study!r}, but the interval is [{difference.low:.3g}, "
            f"{difference.high:.3g}] over {difference.count} seeds: "
            "rewrite the sentence"
        )
    digits = _digits(metric)
    return (
        f"{_number(difference.mean, digits, sign=True)} (95% interval "
        f"{_number(difference.low, digits, sign=True)} to "
        f"{_number(difference.high, digits, sign=True)})"
    )


@_function
def claim_unresolved(
    study: str, reference: str, settings: list[str], metrics: list[str]
) -> str:
    """Nothing, after checking the sentence's claim that no difference of `metrics`
    between `settings` and `reference` is resolved."""
    for setting in settings:
        for metric in metrics:
            diff(study, metric, setting, reference, "0")
    return ""


@_function
def seed_diffs(study: str, metric: str, setting: str, reference: str) -> str:
    """`+0.27 to +0.30`: the smallest and largest of the seeds' differences."""
    difference = _difference(study, metric, setting, reference)
    digits = _digits(metric)
    low, high = min(difference.values), max(difference.values)
    return (
        f"{_number(low, digits, sign=True)} to "
        f"{_number(high, digits, sign=True)}"
    )


@_function
def seed_range(study: str, metric: str, setting: str) -> str:
    """`0.051 to 0.087`: the smallest and largest value over the seeds."""
    values = _runs(study, setting, metric).values()
    digits = _digits(metric)
    return f"{_number(min(values), digits)} to {_number(max(values), digits)}"


@_function
def seeds(study: str) -> str:
    """How many seeds the study ran."""
    return str(len(_record(study)["seeds"]))


@_function
def epochs(study: str) -> str:
    """The study's epochs per run."""
    return str(_record(study)["epochs"])


@_function
def time(study: str) -> str:
    """`3 min 18 s`: the study's wall time, as `study.json` records it."""
    run = _record(study).get("run") or {}
    if "seconds" not in run:
        raise NumberError(f"study {study!r} records no time (run.seconds)")
    return format_duration(float(run["seconds"]))


def _setting_entry(
    entries: Mapping[str, Any], study: str, setting: str | None
) -> Any:
    if setting is None:
        return next(iter(entries.values()))
    if setting not in entries:
        raise NumberError(f"study {study!r} has no setting {setting!r}")
    return entries[setting]


@_function
def machine(study: str, name: str) -> str:
    """Where the study ran, as `study.json` records it (`cpus`, `backend`)."""
    run = _record(study).get("run") or {}
    where = run.get("machine") or {}
    if name not in where:
        raise NumberError(f"study {study!r} records no machine {name!r}")
    return str(where[name])


@_function
def levels(study: str, axis: str) -> str:
    """`1, 2, 4, 8 and 16`: the levels of one of the study's axes, in order."""
    found = list(
        dict.fromkeys(
            str(row[axis]) for row in _rows(study) if str(row.get(axis, ""))
        )
    )
    if not found:
        raise NumberError(f"study {study!r} has no axis {axis!r}")
    shown = []
    for level in found:
        try:
            shown.append(f"{float(level):g}")
        except ValueError:
            shown.append(level)
    return (
        shown[0]
        if len(shown) == 1
        else f"{', '.join(shown[:-1])} and {shown[-1]}"
    )


@_function
def option(study: str, name: str, setting: str | None = None) -> str:
    """An `elbox train` option of the study's runs (of the first setting, or `setting`)."""
    options = _setting_entry(_record(study)["settings"], study, setting)
    if name not in options:
        raise NumberError(f"elbox train has no option {name!r}")
    chosen = options[name]
    if isinstance(chosen, float):
        return f"{chosen:g}"
    return f"{chosen:,}" if isinstance(chosen, int) else str(chosen)


@_function
def data(study: str, name: str, setting: str | None = None) -> str:
    """`16,200`: what `study.json` records of a setting's data and length
    (`train_examples`, `validation_examples`, `test_examples`, `steps_per_epoch`,
    `steps`)."""
    run = _record(study).get("run") or {}
    entry = _setting_entry(run.get("settings") or {"": {}}, study, setting)
    if name not in entry:
        raise NumberError(f"study {study!r} records no {name!r}")
    return f"{int(entry[name]):,}"


@_function
def budget(study: str, name: str) -> str:
    """`500`: a count of the study's scoring budget."""
    chosen = _record(study).get("budget")
    if not chosen or name not in chosen:
        raise NumberError(f"study {study!r} records no budget {name!r}")
    return f"{int(chosen[name]):,}"


def _ceiling(study: str) -> float:
    ceilings = {
        float(row["mi_ceiling"]) for row in _rows(study) if "mi_ceiling" in row
    }
    if len(ceilings) != 1:
        raise NumberError(f"study {study!r} has not one mi_ceiling: {ceilings}")
    return ceilings.pop()


@_function
def examples(study: str) -> str:
    """`1,797`: N, the examples of the study's mutual-information estimates."""
    return f"{round(math.exp(_ceiling(study))):,}"


@_function
def ceiling(study: str) -> str:
    """`7.49`: log N, the most the study's mutual-information estimates can be."""
    return f"{_ceiling(study):.2f}"


# -- the code ------------------------------------------------------------------------


def _resolve(path: str) -> Any:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if isinstance(found, Mapping) and name in found:
                found = found[name]
            elif hasattr(found, name):
                found = getattr(found, name)
            else:
                raise NumberError(f"{path}: no {name!r}")
        return found
    raise NumberError(f"{path}: no such module")


@_function
def code(path: str, spec: str = ",") -> str:
    """A constant of the code (`elbox.metrics.ACTIVE_THRESHOLD`), formatted by `spec`."""
    return format(_resolve(path), spec)


@_function
def axis(path: str, name: str) -> str:
    """`1, 2, 4, 8 and 16`: the levels of the axis `name` of a study of the code (a
    `StudySpec` at `path`)."""
    spec = _resolve(path)
    found = [axis for axis in getattr(spec, "axes", ()) if axis.name == name]
    if not found:
        raise NumberError(f"{path} has no axis {name!r}")
    shown = [level.label for level in found[0].levels]
    shown = [
        f"{float(label):g}" if label.replace(".", "", 1).isdigit() else label
        for label in shown
    ]
    return (
        shown[0]
        if len(shown) == 1
        else f"{', '.join(shown[:-1])} and {shown[-1]}"
    )


@_function
def default(path: str, parameter: str, spec: str = ",") -> str:
    """The default of a parameter of a function or class of the code."""
    signature = inspect.signature(_resolve(path))
    if parameter not in signature.parameters:
        raise NumberError(f"{path} has no parameter {parameter!r}")
    chosen = signature.parameters[parameter].default
    if chosen is inspect.Parameter.empty:
        raise NumberError(f"{path}: {parameter!r} has no default")
    return format(chosen, spec)


# -- JSON files that commands wrote ---------------------------------------------------


@_function
def json(path: str, key: str, spec: str = "") -> str:
    """A value of a JSON file under `docs/` (`key`: names joined by dots)."""
    file = DOCS / path
    if not file.exists():
        raise NumberError(f"{file} does not exist")
    found: Any = json_module.loads(file.read_text())
    for name in key.split("."):
        if isinstance(found, list) and name.isdigit():
            found = found[int(name)]
        elif isinstance(found, dict) and name in found:
            found = found[name]
        else:
            raise NumberError(f"{path} has no {key!r}")
    return format(found, spec)


# -- the pages -----------------------------------------------------------------------


def evaluate(call: str) -> str:
    """The value of one `{{ call }}`.

    Raises:
        NumberError: for anything but a call of `FUNCTIONS` with literal arguments, or a
            call the files cannot answer.
    """
    try:
        tree = ast.parse(call.strip(), mode="eval").body
    except SyntaxError:
        raise NumberError(f"{{{{{call}}}}} is not a call") from None
    if not (
        isinstance(tree, ast.Call)
        and isinstance(tree.func, ast.Name)
        and tree.func.id in FUNCTIONS
    ):
        raise NumberError(
            f"{{{{{call}}}}}: call one of {', '.join(sorted(FUNCTIONS))}"
        )
    try:
        arguments = [ast.literal_eval(node) for node in tree.args]
        keywords = {
            str(node.arg): ast.literal_eval(node.value)
            for node in tree.keywords
        }
    except ValueError:
        raise NumberError(
            f"{{{{{call}}}}}: arguments must be literals"
        ) from None
    return FUNCTIONS[tree.func.id](*arguments, **keywords)


def _code_lines(markdown: str) -> set[int]:
    """The indices (from 0) of the lines inside fenced code blocks, fences included."""
    lines: set[int] = set()
    for block in page_examples.fenced_blocks_in(markdown, Path("page")):
        lines.update(range(block.line - 2, block.end))
    return lines


def calls(markdown: str) -> list[str]:
    """The `{{ call }}`s of a page, outside its code blocks."""
    inside = _code_lines(markdown)
    prose = "\n".join(
        line
        for index, line in enumerate(markdown.splitlines())
        if index not in inside
    )
    return [match["call"] for match in CALL.finditer(prose)]


def with_numbers(markdown: str, where: str = "page") -> str:
    """`markdown` with every `{{ call }}` outside code blocks replaced by its value.

    Raises:
        NumberError: naming `where` and the call, for a call that fails.
    """
    inside = _code_lines(markdown)
    lines = markdown.splitlines(keepends=True)

    def replace(match: re.Match[str]) -> str:
        try:
            return evaluate(match["call"])
        except NumberError as error:
            raise NumberError(f"{where}: {error}") from None

    out: list[str] = []
    prose: list[str] = []
    for index, line in enumerate(lines):
        if index in inside:
            out.append(CALL.sub(replace, "".join(prose)))
            prose = []
            out.append(line)
        else:
            prose.append(line)
    out.append(CALL.sub(replace, "".join(prose)))
    return "".join(out)


def forget() -> None:
    """Read the files again at the next call (after they changed)."""
    _record.cache_clear()
    _rows.cache_clear()
