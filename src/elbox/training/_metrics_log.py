"""Reading `metrics.jsonl` back, defensively: a line cut short by a crash is dropped with a
warning, and any other damage is an error that names the file and the line."""

import json
import os
import warnings
from pathlib import Path
from typing import Any


class MetricsLogError(ValueError):
    """A metrics log is damaged before its last line; the message names the file and line."""


def _record(line: str) -> tuple[dict[str, Any] | None, str]:
    """The record a line holds, or None and why it holds none."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return None, f"not valid JSON ({error.msg} at column {error.colno})"
    if not isinstance(record, dict):
        return None, f"a JSON {type(record).__name__}, not an object"
    kind = record.get("kind")
    if kind not in ("step", "epoch"):
        return None, f"its kind is {kind!r}, not 'step' or 'epoch'"
    field = "step" if kind == "step" else "epoch"
    value = record.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        return None, f"a {kind} record without an integer {field!r}"
    return record, ""


def read_metrics_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl` file, in order.

    A process killed while writing leaves at most its last line unfinished: a last line
    that is not a whole record is left out with a `RuntimeWarning`
    naming the file and the line. Blank lines are skipped.

    Raises:
        MetricsLogError: when a line before the last is not a step or epoch record.
        OSError: when the file cannot be read.
    """
    location = Path(path)
    text = location.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    # A complete file ends with a line end, which leaves an empty last piece.
    finished = lines[-1] == ""
    if finished:
        lines.pop()
    records: list[dict[str, Any]] = []
    last = len(lines)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record, problem = _record(line)
        if record is not None:
            records.append(record)
            continue
        if number == last:
            cut = "" if finished else ", and has no line end"
            warnings.warn(
                f"{location} line {number} is damaged ({problem}{cut}), as a crash while it was "
                "written leaves it; that line is left out",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        raise MetricsLogError(
            f"{location} line {number} is damaged: {problem}; only the last line can be cut "
            "short by a crash, so the file was changed after it was written: restore it, or "
            "delete that line"
        )
    return records
