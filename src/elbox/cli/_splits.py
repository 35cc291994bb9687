"""The data of a run: train, validation and test splits, shaped for its model, and their
loaders."""

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import data as datasets
from ..data import DataFile, DataSplit
from ._errors import RunError
from ._grid_splits import grid_splits
from ._options import STANDARD_DATASETS, TrainOptions, data_name
from ._own_data import ModelRows, Subset, data_split, model_shape, open_own_data, plot_shape
from ._processes import Processes
from ._standard_sets import standard_splits

VALIDATION_FRACTION = 0.1
VALIDATION_BATCH = 256
SHAPES_EXAMPLES, SHAPES_TEST = 6000, 1000


FloatArray = np.ndarray[Any, np.dtype[np.float32]]
Examples = FloatArray | Subset
"""A split: an array in memory (the bundled sets), or indices into a file read by rows (your
own data, a standard data set)."""


@dataclasses.dataclass(frozen=True)
class Splits:
    """The data of a run, shaped for its model.

    `image_shape` is how one example is drawn (and the conv model's input); `data` and
    `split` are set for your own data (`--data`).
    """

    train: Examples
    validation: Examples
    test: Examples
    image_shape: tuple[int, int, int]
    value_range: tuple[float, float] = (0.0, 1.0)
    data: DataFile | None = None
    split: DataSplit | None = None


def load_splits(
    options: TrainOptions, *, data: DataFile | None = None, folder: Path | None = None
) -> Splits:
    """The train, validation and test data.

    For a bundled data set, validation is the last 10% of its training set (the shapes
    factor grids are split by image: see `_grid_splits`); a standard data set has its
    published splits (see `_standard_sets`). For `--data`,
    the split saved in `folder` (when given and present), else a new seeded split; `data` is
    the opened data, if it already is.
    """
    if options.data is not None:
        data = open_own_data(options) if data is None else data
        rows = ModelRows(data, model_shape(data, options.model))
        split = data_split(options, data, folder)
        return Splits(
            Subset(rows, split.train),
            Subset(rows, split.validation),
            Subset(rows, split.test),
            plot_shape(data),
            data.value_range,
            data,
            split,
        )
    if options.dataset in STANDARD_DATASETS:
        standard = standard_splits(options, VALIDATION_FRACTION)
        return Splits(standard.train, standard.validation, standard.test, standard.image_shape)
    if options.dataset == "digits":
        digits = datasets.digits()
        train, test, image_shape = digits.train, digits.test, digits.image_shape
    elif options.dataset == "shapes":
        sprites = datasets.shapes(SHAPES_EXAMPLES, size=32, seed=0)
        images = sprites.images
        train, test, image_shape = images[:-SHAPES_TEST], images[-SHAPES_TEST:], sprites.image_shape
    else:
        # Disjoint factor codes: no image is in two splits, nor among the scores' draws.
        grid = grid_splits(options.dataset)
        train, test = grid.images(grid.pool), grid.images(grid.test)
        image_shape = grid.grid.observation_shape
    shape = (-1, math.prod(image_shape)) if options.model == "mlp" else (-1, *image_shape)
    train = np.asarray(train, np.float32).reshape(shape)
    test = np.asarray(test, np.float32).reshape(shape)
    cut = len(train) - max(1, int(len(train) * VALIDATION_FRACTION))
    return Splits(train[:cut], train[cut:], test, image_shape)


def check_sizes(options: TrainOptions, splits: Splits, processes: Processes) -> None:
    """A RunError when a batch does not fit the data or the devices (before any step)."""
    name = data_name(options) if options.data is None else str(options.data)
    count = len(splits.train)
    if options.batch_size > count:
        raise RunError(
            f"--batch-size {options.batch_size} is larger than the {count} training examples "
            f"of {name}; use --batch-size {count} or less"
        )
    update = options.batch_size * options.accumulate
    if update > count:
        raise RunError(
            f"--accumulate {options.accumulate} batches of --batch-size {options.batch_size} "
            f"({update} examples per update) is more than the {count} training examples of "
            f"{name}; use a smaller --accumulate"
        )
    devices = processes.devices
    if options.batch_size % devices:
        raise RunError(
            f"--batch-size {options.batch_size} does not split evenly over the {devices} "
            f"devices of {processes.count} processes; use a multiple of {devices}"
        )
    if len(splits.validation) < devices:
        raise RunError(
            f"the {len(splits.validation)} validation examples of {name} do not fill one batch "
            f"over the {devices} devices; use more data (or a larger validation --split)"
        )


def batch_loader(
    examples: Examples,
    batch_size: int,
    processes: Processes,
    *,
    shuffle: bool,
    seed: int = 0,
    drop_last: bool = True,
) -> datasets.IndexedBatches:
    if isinstance(examples, Subset):
        source: Any = examples.source
        indices = examples.indices
    else:
        source, indices = examples, np.arange(len(examples))
    return datasets.indexed_batches(
        source,
        indices,
        batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
        process_count=processes.count,
        process_index=processes.index,
    )


def validation_loader(examples: Examples, processes: Processes) -> datasets.IndexedBatches:
    # Every batch must split evenly over the devices: with several, up to `devices - 1`
    # examples that would make a last, uneven batch are left out.
    devices = processes.devices
    size = min(VALIDATION_BATCH, len(examples)) // devices * devices
    drop_last = (len(examples) % size) % devices != 0
    return batch_loader(examples, size, processes, shuffle=False, drop_last=drop_last)
