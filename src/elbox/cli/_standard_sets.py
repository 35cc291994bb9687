"""`elbox train --dataset NAME` on a standard data set: its published splits, read by rows
from elbox's cache as the batches need them.

- mnist, fashion_mnist, cifar10: the published training and test sets; validation is the
  last 10% of the training set, as for the bundled sets.
- binarized_mnist: the published 50,000 / 10,000 / 10,000 split.
- dsprites: no split is published; a fixed permutation (seed 0) holds out
  `min(10,000, n // 10)` images for validation and as many for test, and the rest train.
"""

import dataclasses
from typing import Final

import numpy as np
import numpy.typing as npt

from .. import data as datasets
from ._options import TrainOptions
from ._own_data import ModelRows, Subset, model_shape

HELD_OUT: Final = 10_000
SPLIT_SEED: Final = 0


def download_setting(options: TrainOptions) -> bool | None:
    """False for --no-download; None (downloads unless ELBOX_NO_DOWNLOAD says no)
    otherwise."""
    return False if options.no_download else None


@dataclasses.dataclass(frozen=True)
class StandardSplits:
    """A standard data set's three splits, shaped for the run's model."""

    train: Subset
    validation: Subset
    test: Subset
    image_shape: tuple[int, int, int]


def held_out_split(
    num_examples: int, held_out: int = HELD_OUT, seed: int = SPLIT_SEED
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Training, validation and test indices: `min(held_out, n // 10)` each for validation
    and test, the first and second of a permutation drawn from `default_rng(seed)`; all
    three sorted."""
    count = min(held_out, num_examples // 10)
    order = np.random.default_rng(seed).permutation(num_examples).astype(np.int64)
    validation, test, train = np.split(order, [count, 2 * count])
    return np.sort(train), np.sort(validation), np.sort(test)


def _whole(rows: ModelRows) -> Subset:
    return Subset(rows, np.arange(rows.data.num_examples, dtype=np.int64))


def standard_splits(options: TrainOptions, validation_fraction: float) -> StandardSplits:
    """The splits of the run's standard `--dataset`, downloaded first if need be; where no
    validation set is published, the last `validation_fraction` of the training set.

    Raises:
        DataError: when a published file is missing and cannot be downloaded, or is not
            the published file.
        RunError: when the model cannot take the images.
    """
    download = download_setting(options)
    if options.dataset == "dsprites":
        sprites = datasets.dsprites(options.data_dir, download=download)
        rows = ModelRows(sprites.images, model_shape(sprites.images, options.model))
        train_rows, validation_rows, test_rows = held_out_split(len(sprites))
        return StandardSplits(
            Subset(rows, train_rows),
            Subset(rows, validation_rows),
            Subset(rows, test_rows),
            sprites.observation_shape,
        )
    loaders = {
        "mnist": datasets.mnist,
        "fashion_mnist": datasets.fashion_mnist,
        "binarized_mnist": datasets.binarized_mnist,
        "cifar10": datasets.cifar10,
    }
    loaded = loaders[options.dataset](options.data_dir, download=download)
    shape = model_shape(loaded.train, options.model)
    training = ModelRows(loaded.train, shape)
    test = _whole(ModelRows(loaded.test, shape))
    if loaded.validation is not None:
        return StandardSplits(
            _whole(training), _whole(ModelRows(loaded.validation, shape)), test, loaded.image_shape
        )
    count = loaded.train.num_examples
    cut = count - max(1, int(count * validation_fraction))
    indices = np.arange(count, dtype=np.int64)
    return StandardSplits(
        Subset(training, indices[:cut]), Subset(training, indices[cut:]), test, loaded.image_shape
    )
