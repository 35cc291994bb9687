"""Codes of discrete ground-truth factors: drawn as disentanglement_lib draws them, checked."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


def sample_codes(
    sizes: Sequence[int], num: int, random_state: np.random.RandomState | np.random.Generator
) -> npt.NDArray[np.int64]:
    """`num` codes drawn uniformly, each factor in turn, int64 of shape `(num, len(sizes))`.

    `random_state.randint(n_k, size=num)` for factor k, as disentanglement_lib's data sets
    draw them (`integers` for a `np.random.Generator`).
    """
    if isinstance(num, bool) or not isinstance(num, int) or num < 0:
        raise ValueError(f"num must be a non-negative int; got {num!r}")
    if isinstance(random_state, np.random.Generator):
        columns = [random_state.integers(n, size=num) for n in sizes]
    else:
        columns = [random_state.randint(n, size=num) for n in sizes]
    codes: npt.NDArray[np.int64] = np.stack(columns, axis=1).astype(np.int64)
    return codes


def checked_codes(
    factors: Any, sizes: Sequence[int], names: Sequence[str]
) -> npt.NDArray[np.int64]:
    """`factors` as int64 codes, after checking their shape, type and range.

    Raises:
        ValueError: for codes of the wrong shape or type, or outside the grid.
    """
    codes = np.asarray(factors)
    if codes.ndim != 2 or codes.shape[1] != len(sizes):
        raise ValueError(f"factors must have shape (num, {len(sizes)}); got shape {codes.shape}")
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"factors must be integer codes; got dtype {codes.dtype}")
    bounds = np.asarray(sizes)
    outside = (codes < 0) | (codes >= bounds)
    if outside.any():
        row, column = np.argwhere(outside)[0]
        raise ValueError(
            f"factors[{row}, {column}] = {codes[row, column]} is outside the grid: factor "
            f"{names[column]!r} takes the values 0 to {bounds[column] - 1}"
        )
    return codes.astype(np.int64)
