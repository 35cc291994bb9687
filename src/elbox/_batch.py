"""Batches: an array, or a mapping that holds the data under `image` or `data`."""

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import numpy.typing as npt

from ._custom_types import Batch

BATCH_KEYS = ("image", "data")


def batch_data(batch: Batch) -> jax.Array | npt.NDArray[Any]:
    """The data array of `batch`: the array itself, or `batch["image"]` or `batch["data"]`.

    Raises:
        KeyError: for a mapping with neither key; the message names the keys it has.
        TypeError: for anything that is neither an array nor a mapping.

    Example:
        >>> import numpy as np
        >>> from elbox import batch_data
        >>> batch_data({"image": np.zeros((2, 3)), "label": np.ones(2)}).shape
        (2, 3)
    """
    if isinstance(batch, jax.Array | np.ndarray):
        return batch
    if isinstance(batch, Mapping):
        for key in BATCH_KEYS:
            if key in batch:
                data = batch[key]
                if not isinstance(data, jax.Array | np.ndarray):
                    raise TypeError(
                        f"batch[{key!r}] must be a JAX or NumPy array; got {type(data).__name__}"
                    )
                return data
        raise KeyError(
            "a batch mapping must hold its data under 'image' or 'data'; "
            f"this one has keys {sorted(map(str, batch))}"
        )
    raise TypeError(
        "a batch must be a JAX or NumPy array of shape (batch, ...) or a mapping with an "
        f"'image' or 'data' key; got {type(batch).__name__}"
    )
