"""`--grid KEY=V1,V2,...`: an axis over any `elbox train` option, parsed and checked."""

import dataclasses
import typing
from typing import Any, Literal, get_args, get_origin

from .._options import TrainOptions, _parts
from ._spec import Axis

_LOOP = "a study trains each run for --epochs without validation, checkpoints or logs"
_DATA = (
    "a study trains on the bundled data sets (--grid dataset=...); your own data is not supported"
)

# What the study itself decides, per run or for all of them, and what it does not use.
NOT_GRIDDABLE = {
    "seed": "the study's seeds are 0 .. --seeds - 1",
    "epochs": "pass --epochs to `elbox study` itself",
    "output": "a study writes into its own --output",
    "resume": "pass --resume to `elbox study` itself",
    "overwrite": "pass --overwrite to `elbox study` itself",
    "data": _DATA,
    "data_key": _DATA,
    "image_size": _DATA,
    "split": _DATA,
    "early_stopping": _LOOP,
    "steps_per_dispatch": _LOOP,
    "checkpoint_every": _LOOP,
    "keep_checkpoints": _LOOP,
    "distributed": "a study runs in one process",
    "log": _LOOP,
    "log_images_every": _LOOP,
    "wandb_project": _LOOP,
}


class GridError(ValueError):
    """A `--grid` option that cannot be used; the message names it and what would work."""


def _convert(option: str, text: str, annotation: Any) -> Any:
    if get_origin(annotation) is Literal:
        choices = [str(choice) for choice in get_args(annotation)]
        if text not in choices:
            raise GridError(f"--grid {option}: {text!r} is not one of {', '.join(choices)}")
        return text
    if annotation is bool:
        if text.lower() not in ("true", "false"):
            raise GridError(f"--grid {option}: {text!r} is not true or false")
        return text.lower() == "true"
    try:
        return annotation(text)
    except ValueError:
        raise GridError(f"--grid {option}: {text!r} is not a valid {annotation.__name__}") from None


def parse_grid(text: str) -> Axis:
    """The axis of `KEY=V1,V2,...` (KEY with dashes or underscores).

    Raises:
        GridError: for a malformed text, an unknown option, one the study decides, or a
            value of the wrong type.
    """
    key, sep, values = text.partition("=")
    option = key.strip().lstrip("-").replace("-", "_")
    if not sep or not option or not values.strip():
        raise GridError(f"--grid {text!r}: expected KEY=VALUE[,VALUE...], e.g. beta=1,4,16")
    fields = {field.name for field in dataclasses.fields(TrainOptions)}
    if option not in fields:
        known = ", ".join(sorted(fields - NOT_GRIDDABLE.keys()))
        raise GridError(f"--grid {option}: not an `elbox train` option; the options are {known}")
    if option in NOT_GRIDDABLE:
        raise GridError(f"--grid {option}: {NOT_GRIDDABLE[option]}")
    annotation, _ = _parts(typing.get_type_hints(TrainOptions)[option])
    parsed = [_convert(option, item.strip(), annotation) for item in values.split(",")]
    if len(set(map(str, parsed))) != len(parsed):
        raise GridError(f"--grid {option}: a value is repeated in {values!r}")
    return Axis.of_values(option, parsed)
