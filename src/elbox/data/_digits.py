"""scikit-learn's 8x8 handwritten digits, scaled to [0, 1] and split by a fixed seed."""

import dataclasses
import math
from typing import final

import numpy as np
from jaxtyping import Float32, Int32, Int64


@final
@dataclasses.dataclass(frozen=True, eq=False)
class Digits:
    """The digits data set, split into a training and a test set.

    Attributes:
        train: training images, flattened row by row to 64 pixels, float32 in [0, 1].
        test: test images, likewise.
        train_labels: the digit (0 to 9) of each training image, int32.
        test_labels: the digit of each test image, int32.
        train_index: the row of each training image in `sklearn.datasets.load_digits()`.
        test_index: the row of each test image there; the two index sets are disjoint
            and together cover all 1797 rows.
        image_shape: `(8, 8, 1)`: `train.reshape(-1, *image_shape)` gives channels-last
            images for a convolutional model.
    """

    train: Float32[np.ndarray, "num_train 64"]
    test: Float32[np.ndarray, "num_test 64"]
    train_labels: Int32[np.ndarray, " num_train"]
    test_labels: Int32[np.ndarray, " num_test"]
    train_index: Int64[np.ndarray, " num_train"]
    test_index: Int64[np.ndarray, " num_test"]
    image_shape: tuple[int, int, int] = (8, 8, 1)


def _stratified_test_rows(
    labels: Int32[np.ndarray, " n"], test_fraction: float, seed: int
) -> Int64[np.ndarray, " num_test"]:
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        count = min(max(round(test_fraction * rows.size), 1), rows.size - 1)
        chosen.append(rng.permutation(rows)[:count])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def digits(*, test_fraction: float = 0.2, seed: int = 0) -> Digits:
    """The 1797 handwritten 8x8 digits bundled with scikit-learn, split for a VAE.

    The images come from `sklearn.datasets.load_digits()`, which ships inside the
    scikit-learn wheel (nothing is downloaded). Pixel values `0..16` are divided by 16.

    The split is stratified and fixed by `seed`: for each digit in turn (0 to 9), a
    permutation of that digit's rows drawn from `np.random.default_rng(seed)` sends the
    first `round(test_fraction * count)` rows (at least one, and at least one fewer than
    all) to the test set and the rest to training. Both sets keep the original row order.

    Args:
        test_fraction: the share of each digit's images that goes to the test set,
            strictly between 0 and 1.
        seed: the seed of the split (a non-negative int).

    Returns:
        A [`Digits`][elbox.data.Digits] with `train`, `test` (float32, `(n, 64)`),
        `train_labels`, `test_labels`, the rows' indices and `image_shape = (8, 8, 1)`.

    Raises:
        ValueError: for a `test_fraction` outside (0, 1) or a negative `seed`.

    Example:
        >>> from elbox.data import digits
        >>> data = digits()
        >>> data.train.shape, data.test.shape, data.image_shape
        ((1438, 64), (359, 64), (8, 8, 1))
        >>> float(data.train.min()), float(data.train.max())
        (0.0, 1.0)
    """
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, int | float)
        or not math.isfinite(test_fraction)
        or not 0.0 < test_fraction < 1.0
    ):
        raise ValueError(f"test_fraction must be strictly between 0 and 1; got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (np.asarray(bunch.data, np.float32) / np.float32(16.0)).astype(np.float32)
    labels = np.asarray(bunch.target).astype(np.int32)
    test_rows = _stratified_test_rows(labels, float(test_fraction), seed)
    is_test = np.zeros(labels.size, dtype=bool)
    is_test[test_rows] = True
    train_rows = np.flatnonzero(~is_test).astype(np.int64)
    return Digits(
        train=images[train_rows],
        test=images[test_rows],
        train_labels=labels[train_rows],
        test_labels=labels[test_rows],
        train_index=train_rows,
        test_index=test_rows,
    )
