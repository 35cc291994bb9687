"""A fixed, seeded split of example indices into training, validation and test sets."""

import dataclasses
import math
import os
from pathlib import Path
from typing import final

import numpy as np
from jaxtyping import Int64

from .._atomic import atomic_path
from ._errors import DataError

_NAMES = ("train", "validation", "test")
MIN_EXAMPLES = 2
"""The fewest examples a split may hold."""


@final
@dataclasses.dataclass(frozen=True, eq=False)
class DataSplit:
    """Which examples train, which validate and which test: three sorted, disjoint index
    arrays that together cover `range(num_examples)`.

    Attributes:
        train: the training examples' indices.
        validation: the validation examples' indices.
        test: the test examples' indices.
    """

    train: Int64[np.ndarray, " num_train"]
    validation: Int64[np.ndarray, " num_validation"]
    test: Int64[np.ndarray, " num_test"]

    @property
    def num_examples(self) -> int:
        """The number of examples split."""
        return len(self.train) + len(self.validation) + len(self.test)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the three index arrays to a `.npz` file (whole or not at all)."""
        with atomic_path(path) as temporary, temporary.open("wb") as file:
            np.savez(file, train=self.train, validation=self.validation, test=self.test)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "DataSplit":
        """Read a split that `save` wrote.

        Raises:
            DataError: when the file is missing or is not such a split.
        """
        try:
            with np.load(Path(path), allow_pickle=False) as saved:
                arrays = [np.asarray(saved[name], np.int64) for name in _NAMES]
        except (OSError, KeyError, ValueError) as error:
            raise DataError(f"{path} is not a saved data split: {error}") from None
        return cls(*arrays)


def split_indices(
    num_examples: int,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
) -> DataSplit:
    """Split `range(num_examples)` into training, validation and test indices.

    A permutation drawn from `np.random.default_rng(seed)` is cut into
    `round(validation_fraction * n)` validation examples, `round(test_fraction * n)` test
    examples and the rest for training, in that order after the training part; each part
    is then sorted. The same arguments always give the same split.

    Args:
        num_examples: how many examples there are.
        fractions: the shares of training, validation and test examples; positive, with a
            sum of 1.
        seed: the seed of the permutation.

    Returns:
        A [`DataSplit`][elbox.data.DataSplit].

    Raises:
        DataError: when a part would hold fewer than 2 examples.
        ValueError: for fractions that are not three positive numbers summing to 1.

    Example:
        >>> from elbox.data import split_indices
        >>> split = split_indices(20, (0.6, 0.2, 0.2), seed=0)
        >>> len(split.train), len(split.validation), len(split.test)
        (12, 4, 4)
        >>> sorted([*split.train, *split.validation, *split.test]) == list(range(20))
        True
    """
    if (
        len(fractions) != 3
        or any(isinstance(f, bool) or not isinstance(f, int | float) for f in fractions)
        or not all(math.isfinite(f) and f > 0 for f in fractions)
        or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6)
    ):
        raise ValueError(
            "the split takes three positive fractions (train, validation, test) that sum to "
            f"1, such as 0.8 0.1 0.1; got {' '.join(str(f) for f in fractions)}"
        )
    num_validation = round(fractions[1] * num_examples)
    num_test = round(fractions[2] * num_examples)
    num_train = num_examples - num_validation - num_test
    counts = dict(zip(_NAMES, (num_train, num_validation, num_test), strict=True))
    small = {name: count for name, count in counts.items() if count < MIN_EXAMPLES}
    if small:
        described = ", ".join(f"{count} for {name}" for name, count in small.items())
        raise DataError(
            f"splitting {num_examples} examples {' / '.join(f'{f:g}' for f in fractions)} "
            f"leaves {described}; each split needs at least {MIN_EXAMPLES} examples: use more "
            "data or change the fractions"
        )
    order = np.random.default_rng(seed).permutation(num_examples).astype(np.int64)
    cuts = [num_train, num_train + num_validation]
    train, validation, test = (np.sort(part) for part in np.split(order, cuts))
    return DataSplit(train, validation, test)
