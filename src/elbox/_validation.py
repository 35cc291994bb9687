"""Checks for the fields of configuration dataclasses, with messages that name the field.

`owner` prefixes the field's name in the message (`"VAETrainingConfig"` gives
`VAETrainingConfig.beta`); an empty owner names the argument alone.
"""

import math
import numbers
from collections.abc import Sequence


def _label(owner: str, name: str) -> str:
    return f"{owner}.{name}" if owner else name


def checked_choice(owner: str, name: str, value: object, choices: Sequence[str]) -> str:
    """`value` if it is one of `choices`; otherwise a ValueError listing them."""
    if value not in choices:
        options = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{_label(owner, name)} must be one of {options}; got {value!r}")
    return str(value)


def checked_int(owner: str, name: str, value: object, minimum: int) -> int:
    """`value` as an int if it is an integer >= `minimum` (bools are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{_label(owner, name)} must be an integer >= {minimum}; "
            f"got {value!r} of type {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"{_label(owner, name)} must be >= {minimum}; got {value}")
    return int(value)


def checked_non_negative_float(owner: str, name: str, value: object) -> float:
    """`value` as a float if it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{_label(owner, name)} must be a finite number >= 0; "
            f"got {value!r} of type {type(value).__name__}"
        )
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{_label(owner, name)} must be a finite number >= 0; got {value!r}")
    return number


def checked_real(owner: str, name: str, value: object) -> float:
    """`value` as a float if it is a real number other than NaN."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{_label(owner, name)} must be a number; got {value!r}")
    return float(value)


def checked_step(step: object) -> int:
    """`step` as a non-negative Python int, or a clear error."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"step must be a Python or NumPy integer; got {type(step).__name__}")
    if step < 0:
        raise ValueError(f"step must be >= 0; got {step}")
    return int(step)
