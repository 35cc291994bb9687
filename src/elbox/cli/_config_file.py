"""`elbox train --config FILE`: options from a TOML file, or from a run's config.json."""

import dataclasses
import difflib
import json
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from ._errors import RunError
from ._options import TrainOptions, _parts

# A run's config.json names its own folder and how it was started: a new run from it
# gets these from the command line (or their defaults) instead.
_NOT_REPRODUCED = ("output", "resume", "overwrite")
_PATH_OPTIONS = ("data", "output")


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _coerce(name: str, value: object, annotation: Any, where: str) -> Any:
    """`value` as the option's type, or a RunError saying what the option takes."""
    base, optional = _parts(annotation)
    if value is None:
        if optional:
            return None
        raise RunError(f"{where}: option {name!r} cannot be empty")
    origin, args = get_origin(base), get_args(base)
    problem = None
    if base is bool:
        if isinstance(value, bool):
            return value
        problem = "true or false"
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        problem = "an integer"
    elif base is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        problem = "a number"
    elif base is str:
        if isinstance(value, str):
            return value
        problem = "a string"
    elif base is Path:
        if isinstance(value, str) and value:
            return Path(value)
        problem = "a path (a string)"
    elif origin is Literal:
        if value in args:
            return value
        problem = "one of " + ", ".join(repr(arg) for arg in args)
    elif origin is tuple:
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list | tuple):
            if args[-1] is Ellipsis:
                return tuple(_coerce(name, item, args[0], where) for item in items)
            if len(items) == len(args):
                return tuple(
                    _coerce(name, item, arg, where) for item, arg in zip(items, args, strict=True)
                )
        count = "a list" if args[-1] is Ellipsis else f"a list of {len(args)}"
        problem = f"{count} of {args[0].__name__ if isinstance(args[0], type) else 'names'}"
    raise RunError(f"{where}: option {name!r} takes {problem}; got {_describe(value)}")


def run_options(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a run's config.json that a new run (or its resume) repeats: all but
    its folder and how it was started, and only the data source it used (config.json
    records `dataset` with its default for a `--data` run, which `--data` replaces)."""
    values = {k: v for k, v in recorded.items() if k not in _NOT_REPRODUCED}
    if values.get("data") is not None:
        values.pop("dataset", None)
    return values


def read_config_file(path: Path) -> dict[str, Any]:
    """The options a TOML file, or a run's `config.json`, sets.

    Names may be written with `_` or `-`. Relative paths are relative to the file's folder.
    From a run's `config.json`, every option is taken except `output`, `resume` and
    `overwrite`, so that `elbox train --config runs/X/config.json --output runs/Y` repeats
    run X.

    Raises:
        RunError: for a missing or unreadable file, an unknown option (with the closest
            name), or a value of the wrong type.
    """
    where = f"--config {path}"
    try:
        text = path.read_text()
    except OSError as error:
        raise RunError(f"{where}: cannot read the file: {error.strerror or error}") from None
    values: Any
    if path.suffix.lower() == ".json":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise RunError(
                f"{where}: not valid JSON (line {error.lineno}, column {error.colno}: "
                f"{error.msg}); the file is damaged or is not a run's config.json"
            ) from None
        if isinstance(values, dict) and isinstance(values.get("options"), dict):
            values = run_options(values["options"])
    else:
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise RunError(f"{where}: not valid TOML: {error}") from None
    if not isinstance(values, dict):
        raise RunError(f"{where}: expected a table of options; got {type(values).__name__}")
    return _checked(values, path, where)


def _checked(values: Mapping[str, Any], path: Path, where: str) -> dict[str, Any]:
    hints = typing.get_type_hints(TrainOptions)
    names = [field.name for field in dataclasses.fields(TrainOptions)]
    options: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RunError(
                f"{where}: unknown option {key!r}{hint}; the options are those of "
                "`elbox train --help`, with _ or - between words"
            )
        if isinstance(value, dict):
            raise RunError(f"{where}: option {key!r} takes a value, not a table")
        coerced = _coerce(name, value, hints[name], where)
        if name in _PATH_OPTIONS and isinstance(coerced, Path) and not coerced.is_absolute():
            coerced = path.parent / coerced
        options[name] = coerced
    return options
