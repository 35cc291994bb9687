"""Checks of the metrics' arguments, with messages that name the argument."""

import numbers
from typing import Any

import jax
import numpy as np
import numpy.typing as npt

from .._validation import checked_int


def checked_data(x: object, function: str) -> jax.Array | npt.NDArray[Any]:
    """`x` if it is a JAX or NumPy floating-point array of shape `(batch, ...)`."""
    if not isinstance(x, jax.Array | np.ndarray):
        raise TypeError(
            f"{function}: x must be a JAX or NumPy array of shape (batch, ...); "
            f"got {type(x).__name__}"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            f"{function}: x must hold floating-point data; got dtype {x.dtype} "
            "(convert it, e.g. x.astype(np.float32) / 255 for 8-bit images)"
        )
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(
            f"{function}: x must have shape (batch, ...) with at least one example; "
            f"got shape {x.shape}"
        )
    return x


def checked_batch_size(batch_size: object, num_examples: int) -> int:
    """The number of examples per compiled call: `batch_size`, at most `num_examples`."""
    if batch_size is None:
        return num_examples
    return min(checked_int("", "batch_size", batch_size, 1), num_examples)


def checked_latents(latents: object, name: str) -> npt.NDArray[np.float64]:
    """`latents` as a float64 array of shape `(num_examples, latent)` with finite values."""
    array = _as_2d(latents, name, "(num_examples, latent)")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers; got dtype {array.dtype}")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return values


def checked_factors(factors: object, name: str) -> npt.NDArray[np.int64]:
    """`factors` as an int64 array of shape `(num_examples, num_factors)`."""
    array = _as_2d(factors, name, "(num_examples, num_factors)")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{name} must hold integer codes of discrete factor values; got dtype "
            f"{array.dtype} (for factors stored as floats, pass the index of each value, "
            "e.g. np.unique(column, return_inverse=True)[1])"
        )
    return array.astype(np.int64)


def check_varying(factors: npt.NDArray[np.int64], name: str) -> None:
    """Every factor must take at least two values."""
    for column in range(factors.shape[1]):
        values = np.unique(factors[:, column])
        if values.size < 2:
            raise ValueError(
                f"{name}[:, {column}] takes the single value {values[0]}: a factor that "
                "never varies has entropy 0 and cannot be scored; drop that column"
            )


def checked_pair(
    latents: npt.NDArray[Any], factors: npt.NDArray[Any], names: tuple[str, str]
) -> None:
    """Latents and factors must describe the same examples: one row each."""
    if latents.shape[0] != factors.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have one row per example, the same number; "
            f"got {latents.shape[0]} and {factors.shape[0]} rows"
        )


def checked_columns(
    train: npt.NDArray[Any], test: npt.NDArray[Any], names: tuple[str, str]
) -> None:
    """A training and a test array must have the same columns."""
    if train.shape[1] != test.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of columns; "
            f"got {train.shape[1]} and {test.shape[1]}"
        )


def checked_train_test(
    latents_train: object, factors_train: object, latents_test: object, factors_test: object
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]
]:
    """The four arrays of a score learnt on a training split and measured on a test split
    (SAP, DCI), checked: each array's shape and dtype, rows that match within a split,
    columns that match across splits, and training factors that each take two values."""
    train = checked_latents(latents_train, "latents_train")
    train_factors = checked_factors(factors_train, "factors_train")
    test = checked_latents(latents_test, "latents_test")
    test_factors = checked_factors(factors_test, "factors_test")
    checked_pair(train, train_factors, ("latents_train", "factors_train"))
    checked_pair(test, test_factors, ("latents_test", "factors_test"))
    checked_columns(train, test, ("latents_train", "latents_test"))
    checked_columns(train_factors, test_factors, ("factors_train", "factors_test"))
    check_varying(train_factors, "factors_train")
    return train, train_factors, test, test_factors


def checked_at_least(count: int, minimum: int, what: str, function: str) -> None:
    """`function` needs at least `minimum` of `what` (latent dimensions, factors)."""
    if count < minimum:
        raise ValueError(f"{function} needs at least {minimum} {what}; got {count}")


def checked_seed(seed: object) -> int:
    """A seed for `np.random.RandomState`: an int in [0, 2**32)."""
    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not 0 <= int(seed) < 2**32
    ):
        raise ValueError(f"seed must be an int in [0, 2**32); got {seed!r}")
    return int(seed)


def _as_2d(value: object, name: str, layout: str) -> npt.NDArray[Any]:
    if not isinstance(value, jax.Array | np.ndarray):
        raise TypeError(
            f"{name} must be a NumPy or JAX array of shape {layout}; got {type(value).__name__}"
        )
    array = np.asarray(value)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} must have shape {layout}; got shape {array.shape}")
    return array
