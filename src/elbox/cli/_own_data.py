"""`elbox train --data PATH`: the user's data, split once by index and shaped for the model."""

from pathlib import Path
from typing import Any, Final, final

import numpy as np
import numpy.typing as npt
from jaxtyping import Int

from ..data import DataFile, DataSplit, RowSource, open_data, split_indices
from ._data_options import DEFAULT_SPLIT, DataOptions
from ._errors import RunError
from ._progress import progress

SPLIT_FILE: Final = "split.npz"
SPLIT_SEED: Final = 0
# The reference ConvVAE's two strided convolutions halve the height and width twice.
CONV_FACTOR: Final = 4


@final
class ModelRows:
    """The examples of a `DataFile`, reshaped as the model takes them (flat for the MLP)."""

    def __init__(self, data: DataFile, shape: tuple[int, ...]) -> None:
        self.data = data
        self.shape = shape

    def take(self, rows: Int[np.ndarray, " rows"]) -> npt.NDArray[np.float32]:
        """The examples at `rows`, float32, in the model's shape."""
        return self.data.take(rows).reshape(len(rows), *self.shape)


@final
class Subset:
    """One split of the data: its indices, read on demand. Sliced like an array (`s[:12]`),
    which is all evaluation and plotting need; the training loader reads it by index."""

    def __init__(self, source: RowSource, indices: npt.NDArray[np.int64]) -> None:
        self.source = source
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: slice) -> npt.NDArray[Any]:
        return self.source.take(self.indices[index])


def open_own_data(options: DataOptions) -> DataFile:
    """The `--data` file or folder, opened and checked (a DataError if it is unusable); on
    a terminal, a bar shows the scan of a .npy file's values."""
    assert options.data is not None
    with progress(0, f"checking {options.data.name}") as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return open_data(
            options.data,
            key=options.data_key,
            image_size=options.image_size,
            image_mode=options.image_mode,
            value_range=options.value_range,
            progress=advance,
        )


def model_shape(data: DataFile, model: str) -> tuple[int, ...]:
    """The shape one example takes for the model: flat for the MLP, an image for the conv.

    Raises:
        RunError: when the conv model cannot take the data.
    """
    if model == "mlp":
        return (int(np.prod(data.example_shape)),)
    image = data.image_shape
    if image is None:
        raise RunError(
            f"--model conv takes images, but {data.describe()} holds vectors; use --model mlp, "
            "or save the data as images (n, height, width[, channels])"
        )
    height, width, _ = image
    if height % CONV_FACTOR or width % CONV_FACTOR:
        raise RunError(
            f"--model conv takes images whose height and width are multiples of "
            f"{CONV_FACTOR} (its two strided convolutions halve them twice); {data.path} "
            f"holds {height}x{width} images: use --model mlp, or resize the images (--image-size "
            f"{_round_up(height)} {_round_up(width)} for a folder)"
        )
    return image


def _round_up(size: int) -> int:
    return -(-size // CONV_FACTOR) * CONV_FACTOR


def plot_shape(data: DataFile) -> tuple[int, int, int]:
    """How an example is drawn: as the image it is, or a vector as a one-pixel-high strip."""
    image = data.image_shape
    return image if image is not None else (1, int(np.prod(data.example_shape)), 1)


def data_split(options: DataOptions, data: DataFile, folder: Path | None) -> DataSplit:
    """The run's split: the one saved in `folder` when there is one, else a new one.

    Raises:
        RunError: when the saved split does not fit the data (the data changed).
        DataError: when a part of a new split would hold fewer than 2 examples.
    """
    saved = None if folder is None else folder / SPLIT_FILE
    if saved is not None and saved.exists():
        split = DataSplit.load(saved)
        if split.num_examples != data.num_examples:
            raise RunError(
                f"{folder} was trained on {split.num_examples} examples, but "
                f"{data.describe()} now holds {data.num_examples}: the data changed since the "
                "run, so its test split no longer exists"
            )
        return split
    fractions = options.split if options.split is not None else DEFAULT_SPLIT
    return split_indices(data.num_examples, fractions, seed=SPLIT_SEED)


def data_record(data: DataFile) -> dict[str, Any]:
    """What config.json records of the data, to notice later that it changed."""
    return {
        "path": str(data.path.absolute()),
        "format": data.format,
        "key": data.key,
        "num_examples": data.num_examples,
        "example_shape": list(data.example_shape),
        "dtype": str(data.dtype),
        "value_range": list(data.value_range),
        # The stored values mapped onto [0, 1] (null: floating-point data used as it is).
        "scaled_from": None if data.scaled_from is None else list(data.scaled_from),
    }


def check_same_data(record: dict[str, Any] | None, data: DataFile, folder: Path) -> None:
    """A RunError when the data no longer matches what the run in `folder` trained on."""
    if record is None:
        return
    now = data_record(data)
    changed = [
        f"{name} {record[name]!r} -> {now[name]!r}"
        for name in ("num_examples", "example_shape", "dtype")
        if record.get(name) != now[name]
    ]
    if changed:
        raise RunError(
            f"{folder} was trained on other data than {data.path} holds now "
            f"({', '.join(changed)}); restore the data the run was trained on"
        )
