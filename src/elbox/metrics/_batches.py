"""Batches of one fixed size, the last one padded, so a compiled function sees one shape."""

from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy.typing as npt


def padded_batches(
    x: jax.Array | npt.NDArray[Any], size: int
) -> Iterator[tuple[int, int, jax.Array]]:
    """`(start, count, batch)` for consecutive batches of `size` rows of `x`.

    The last batch is padded to `size` rows by repeating its last row; only its first
    `count` rows are examples of `x`.
    """
    for start in range(0, x.shape[0], size):
        batch = jnp.asarray(x[start : start + size])
        count = batch.shape[0]
        if count < size:
            widths = [(0, size - count)] + [(0, 0)] * (batch.ndim - 1)
            batch = jnp.pad(batch, widths, mode="edge")
        yield start, count, batch
