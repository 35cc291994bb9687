"""Your own data: a .npy file read lazily, a .npz file or a folder of images, checked once."""

import math
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, Literal, final

import numpy as np
import numpy.typing as npt
from jaxtyping import Float32, Int

from ._errors import DataError
from ._image_folder import read_image_folder

DataFormat = Literal["npy", "npz", "images", "bits"]
"""How the data is stored: a `.npy` file, a `.npz` file or a folder of images; `"bits"` is
a `.npy` file of binary images packed 8 pixels to a byte, as elbox caches binarised MNIST
and dSprites."""

# The scan for NaN, infinities and the value range reads about this many bytes at a time.
_SCAN_BYTES: Final = 1 << 25
# Integer data is scaled by the first of these maxima that bounds it: 8- and 16-bit images.
_INTEGER_MAXIMA: Final = (255, 65535)

RowReader = Callable[[Int[np.ndarray, " rows"]], npt.NDArray[Any]]


def _checked_rows(rows: object, num_examples: int) -> npt.NDArray[np.int64]:
    array = np.asarray(rows)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise ValueError(f"rows must be a 1-D array of integer indices; got {array!r}")
    if array.size and (array.min() < 0 or array.max() >= num_examples):
        raise IndexError(
            f"rows must lie in [0, {num_examples}); got values from {array.min()} to {array.max()}"
        )
    return array.astype(np.int64)


@final
class _NpyFileRows:
    """Reads rows of a C-ordered .npy file with positional reads: only the bytes asked for
    pass through this process's memory (the page cache holding the file is the OS's, and it
    reclaims it), so the resident memory stays bounded by a batch, whatever the file's size.
    """

    def __init__(self, path: Path, offset: int, dtype: np.dtype[Any], shape: tuple[int, ...]):
        self.path = path
        self.offset = offset
        self.dtype = dtype
        self.example_shape = shape[1:]
        self.row_bytes = dtype.itemsize * math.prod(self.example_shape)

    def _read(self, fd: int, first: int, count: int) -> npt.NDArray[np.uint8]:
        size = count * self.row_bytes
        data = os.pread(fd, size, self.offset + first * self.row_bytes)
        if len(data) != size:
            raise DataError(
                f"{self.path} is shorter than its header says (truncated?): rows {first} "
                f"to {first + count - 1} cannot be read"
            )
        return np.frombuffer(data, np.uint8).reshape(count, self.row_bytes)

    def __call__(self, rows: Int[np.ndarray, " rows"]) -> npt.NDArray[Any]:
        order = np.argsort(rows, kind="stable")
        ascending = rows[order]
        raw: npt.NDArray[np.uint8] = np.empty((len(rows), self.row_bytes), np.uint8)
        if not len(rows):
            return raw.view(self.dtype).reshape(0, *self.example_shape)
        # Runs of consecutive rows are read with one call each.
        starts = np.flatnonzero(np.diff(ascending, prepend=-2) != 1)
        ends = np.append(starts[1:], len(ascending))
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
                raw[order[start:end]] = self._read(fd, int(ascending[start]), end - start)
        finally:
            os.close(fd)
        return raw.view(self.dtype).reshape(len(rows), *self.example_shape)

    def chunks(self, num_examples: int) -> Iterator[tuple[int, npt.NDArray[Any]]]:
        step = max(1, _SCAN_BYTES // max(1, self.row_bytes))
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for first in range(0, num_examples, step):
                count = min(step, num_examples - first)
                chunk = self._read(fd, first, count).view(self.dtype)
                yield first, chunk.reshape(count, *self.example_shape)
        finally:
            os.close(fd)


def _array_chunks(
    array: npt.NDArray[Any], row_bytes: int
) -> Iterator[tuple[int, npt.NDArray[Any]]]:
    step = max(1, _SCAN_BYTES // max(1, row_bytes))
    for first in range(0, len(array), step):
        yield first, np.asarray(array[first : first + step])


def _kind_of(dtype: np.dtype[Any]) -> str:
    names = {
        "U": "text",
        "S": "bytes",
        "O": "Python objects",
        "c": "complex numbers",
        "M": "dates",
        "m": "time spans",
        "V": "records",
    }
    return names.get(dtype.kind, dtype.kind)


def _check_numeric(dtype: np.dtype[Any], where: str) -> None:
    if dtype.kind not in "biuf":
        raise DataError(
            f"{where} holds {_kind_of(dtype)} (dtype {dtype}), not real numbers; elbox trains "
            "on integer images or floating-point arrays"
        )


def _check_shape(shape: tuple[int, ...], where: str) -> None:
    if len(shape) < 2 or len(shape) > 4:
        raise DataError(
            f"{where} has shape {shape}; elbox needs examples along the first axis and "
            "each example a vector (n, features), a greyscale image (n, height, width) or "
            "an image with channels last (n, height, width, channels)"
        )
    if shape[0] == 0 or math.prod(shape[1:]) == 0:
        raise DataError(f"{where} has shape {shape}: it holds no values to train on")


def _example_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    # A greyscale image (n, height, width) gets its channel axis: (height, width, 1).
    return (*shape[1:], 1) if len(shape) == 3 else shape[1:]


def _scan(
    chunks: Iterator[tuple[int, npt.NDArray[Any]]], floating: bool, where: str
) -> tuple[float, float]:
    """The smallest and largest value; a DataError counting NaN and infinite values."""
    bad, first_bad = 0, None
    low, high = math.inf, -math.inf
    for first, chunk in chunks:
        values = chunk
        if floating:
            finite = np.isfinite(chunk)
            if not finite.all():
                bad += int(finite.size - np.count_nonzero(finite))
                if first_bad is None:
                    index = np.unravel_index(int(np.argmin(finite)), chunk.shape)
                    first_bad = (first + int(index[0]), *(int(i) for i in index[1:]))
                values = chunk[finite]
        if values.size:
            low, high = min(low, float(values.min())), max(high, float(values.max()))
    if bad:
        assert first_bad is not None
        raise DataError(
            f"{where} holds {bad} NaN or infinite value{'s' if bad > 1 else ''}; the first "
            f"at index {first_bad} (example {first_bad[0]}); replace or remove them "
            "(np.nan_to_num, or drop those examples) before training"
        )
    return low, high


def _integer_scale(low: float, high: float, where: str) -> float:
    for maximum in _INTEGER_MAXIMA:
        if low >= 0 and high <= maximum:
            return 1.0 / maximum
    raise DataError(
        f"{where} holds integers from {low:g} to {high:g}; elbox reads integer data as "
        "8-bit (0 to 255) or 16-bit (0 to 65535) images and scales it to [0, 1]; convert "
        "other integer data to floating point"
    )


@final
class DataFile:
    """Examples read from a `.npy` file, a `.npz` file or a folder of images.

    Made by [`open_data`][elbox.data.open_data], which checks the data once, and by the
    standard data sets ([`mnist`][elbox.data.mnist] and the others), whose splits are
    files of elbox's cache. `take(rows)`
    reads the examples at `rows` as float32: integer images scaled to [0, 1], floating-point
    data as it is. A `.npy` file is read lazily, so the data may be larger than the memory;
    a `.npz` file and the images of a folder are read into memory (as stored, e.g. uint8).

    Attributes:
        path: the file or folder.
        format: `"npy"`, `"npz"`, `"images"`, or `"bits"` for the binary images of a
            standard data set's cache.
        key: the array's name in a `.npz` file (None otherwise).
        num_examples: the number of examples (the first axis).
        example_shape: the shape of one example as `take` returns it: `(features,)`, or
            `(height, width, channels)` for images (a greyscale array `(n, height, width)`
            gains a channel axis of 1).
        dtype: the stored dtype.
        scale: what `take` multiplies the stored values by (`1/255` for 8-bit images, 1
            for floating point).
        value_range: `(low, high)` of the values `take` returns: the smallest and largest
            value of floating-point data, `(0.0, 1.0)` for images.
    """

    def __init__(
        self,
        path: Path,
        format: DataFormat,
        key: str | None,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        scale: float,
        value_range: tuple[float, float],
        reader: Callable[[Int[np.ndarray, " rows"]], npt.NDArray[Any]],
    ) -> None:
        self.path = path
        self.format: DataFormat = format
        self.key = key
        self.num_examples = shape[0]
        self.example_shape = _example_shape(shape)
        self.dtype = dtype
        self.scale = scale
        self.value_range = value_range
        self._reader = reader

    def __len__(self) -> int:
        """The number of examples."""
        return self.num_examples

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        """`(height, width, channels)` when the examples are images, None for vectors."""
        if len(self.example_shape) != 3:
            return None
        height, width, channels = self.example_shape
        return height, width, channels

    @property
    def in_unit_interval(self) -> bool:
        """Whether every value lies in [0, 1] (so a Bernoulli likelihood fits)."""
        return self.value_range[0] >= 0.0 and self.value_range[1] <= 1.0

    def take(self, rows: Int[np.ndarray, " rows"]) -> Float32[np.ndarray, "rows ..."]:
        """The examples at `rows` (indices into the first axis), as float32.

        Example:
            >>> import tempfile
            >>> from pathlib import Path
            >>> import numpy as np
            >>> from elbox.data import open_data
            >>> folder = Path(tempfile.mkdtemp())
            >>> np.save(folder / "x.npy", np.arange(12, dtype=np.uint8).reshape(3, 4))
            >>> data = open_data(folder / "x.npy")
            >>> (data.take(np.array([2, 0])) * 255).round().tolist()
            [[8.0, 9.0, 10.0, 11.0], [0.0, 1.0, 2.0, 3.0]]
        """
        checked = _checked_rows(rows, self.num_examples)
        values = self._reader(checked).reshape(len(checked), *self.example_shape)
        result = values.astype(np.float32)
        if self.scale != 1.0:
            result *= np.float32(self.scale)
        return result

    def describe(self) -> str:
        """One line: where the data is, how many examples of which shape and dtype."""
        source = f"{self.path}[{self.key!r}]" if self.key is not None else str(self.path)
        shape = "x".join(str(size) for size in self.example_shape)
        return f"{source}: {self.num_examples} examples of {shape} {self.dtype}"

    def __repr__(self) -> str:
        return (
            f"DataFile({str(self.path)!r}, format={self.format!r}, num_examples="
            f"{self.num_examples}, example_shape={self.example_shape}, dtype={self.dtype})"
        )


def _scale_and_range(
    dtype: np.dtype[Any], chunks: Callable[[], Iterator[tuple[int, npt.NDArray[Any]]]], where: str
) -> tuple[float, tuple[float, float]]:
    if dtype.kind == "b":
        return 1.0, (0.0, 1.0)
    if dtype == np.uint8 or dtype == np.uint16:  # images: no need to read the data
        return 1.0 / float(np.iinfo(dtype).max), (0.0, 1.0)
    low, high = _scan(chunks(), dtype.kind == "f", where)
    if dtype.kind in "iu":
        return _integer_scale(low, high, where), (0.0, 1.0)
    return 1.0, (low, high)


def _open_npy(path: Path) -> DataFile:
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:  # object arrays, or a damaged header
        if "allow_pickle" in str(error) or "Python objects" in str(error):
            raise DataError(
                f"{path} holds Python objects (dtype object), not real numbers; elbox trains "
                "on integer images or floating-point arrays"
            ) from None
        raise DataError(f"{path} is not a readable .npy file: {error}") from None
    except OSError as error:
        raise DataError(f"{path} cannot be read: {error}") from None
    if not isinstance(mapped, np.memmap):
        raise DataError(f"{path} is not a .npy file (np.load did not map an array)")
    shape, dtype = tuple(int(size) for size in mapped.shape), mapped.dtype
    _check_numeric(dtype, str(path))
    _check_shape(shape, str(path))
    reader: RowReader
    if mapped.flags.c_contiguous:
        rows = _NpyFileRows(path, int(mapped.offset), dtype, shape)
        reader = rows

        def chunks() -> Iterator[tuple[int, npt.NDArray[Any]]]:
            return rows.chunks(shape[0])
    else:  # Fortran order: an example's values are scattered over the file
        reader = mapped.__getitem__

        def chunks() -> Iterator[tuple[int, npt.NDArray[Any]]]:
            return _array_chunks(mapped, dtype.itemsize * math.prod(shape[1:]))

    scale, value_range = _scale_and_range(dtype, chunks, str(path))
    return DataFile(path, "npy", None, shape, dtype, scale, value_range, reader)


def _in_memory(
    path: Path, format: DataFormat, key: str | None, array: npt.NDArray[Any], where: str
) -> DataFile:
    shape = tuple(int(size) for size in array.shape)
    _check_numeric(array.dtype, where)
    _check_shape(shape, where)

    def chunks() -> Iterator[tuple[int, npt.NDArray[Any]]]:
        return _array_chunks(array, array.dtype.itemsize * math.prod(shape[1:]))

    scale, value_range = _scale_and_range(array.dtype, chunks, where)

    def reader(rows: Int[np.ndarray, " rows"]) -> npt.NDArray[Any]:
        return np.asarray(array[rows])

    return DataFile(path, format, key, shape, array.dtype, scale, value_range, reader)


def _open_npz(path: Path, key: str | None) -> DataFile:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not a readable .npz file: {error}") from None
    with archive:
        names = list(archive.files)
        listed = ", ".join(repr(name) for name in names)
        if key is None:
            if len(names) != 1:
                raise DataError(
                    f"{path} holds {len(names)} arrays ({listed or 'none'}); name the one to "
                    "train on (--data-key NAME on the command line, key=NAME in Python)"
                )
            key = names[0]
        elif key not in names:
            raise DataError(f"{path} has no array {key!r}; its arrays: {listed or 'none'}")
        try:
            array = archive[key]
        except ValueError as error:
            if "allow_pickle" in str(error):
                raise DataError(
                    f"{path}[{key!r}] holds Python objects (dtype object), not real numbers; "
                    "elbox trains on integer images or floating-point arrays"
                ) from None
            raise DataError(f"{path}[{key!r}] cannot be read: {error}") from None
    return _in_memory(path, "npz", key, array, f"{path}[{key!r}]")


def _checked_image_size(image_size: object) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if (
        not isinstance(image_size, tuple | list)
        or len(image_size) != 2
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in image_size)
    ):
        raise ValueError(
            f"image_size must be (height, width), two positive ints; got {image_size!r}"
        )
    height, width = image_size
    return int(height), int(width)


def open_data(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    image_size: tuple[int, int] | None = None,
) -> DataFile:
    """Open your own data for training, and check it before any training starts.

    - A `.npy` file: the first axis indexes the examples. It is memory-mapped
      (`np.load(path, mmap_mode="r")`) and its rows are read as batches need them, so a
      file larger than the memory trains with bounded resident memory.
    - A `.npz` file: the array named `key`, or its only array; read into memory.
    - A folder of PNG or JPEG images (sub-folders included; hidden files skipped), read
      with Pillow into memory as uint8: greyscale when every image is, RGB otherwise.
      All must have the same size, unless `image_size=(height, width)` resizes them.

    Arrays hold vectors `(n, features)`, greyscale images `(n, height, width)` or images
    with channels last `(n, height, width, channels)`. Integer values are read as 8-bit
    (0 to 255) or 16-bit (0 to 65535) images and scaled to [0, 1]; floating-point values
    are used as they are, and are checked for NaN and infinities once, in chunks.

    Args:
        path: the `.npy` or `.npz` file, or the folder of images.
        key: the array to use in a `.npz` file holding several.
        image_size: `(height, width)` to resize a folder's images to.

    Returns:
        A [`DataFile`][elbox.data.DataFile]: `take(rows)` reads examples as float32.

    Raises:
        DataError: for a missing path, another kind of file, an unknown `key` (the message
            lists the arrays), images of different sizes (naming two files and their
            sizes), files that are not images in the folder (naming them), NaN or infinite
            values (their count and the first one's index), a non-numeric dtype, or an
            array that is not (n, ...) of 2 to 4 dimensions.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from elbox.data import open_data
        >>> folder = Path(tempfile.mkdtemp())
        >>> np.save(folder / "images.npy", np.zeros((10, 8, 8), np.uint8))
        >>> data = open_data(folder / "images.npy")
        >>> data.num_examples, data.image_shape, data.value_range
        (10, (8, 8, 1), (0.0, 1.0))
    """
    location = Path(path)
    size = _checked_image_size(image_size)
    if not location.exists():
        raise DataError(f"no such file or folder: {location}")
    suffix = location.suffix.lower()
    if location.is_dir():
        if key is not None:
            raise DataError(
                f"a data key ({key!r}) names an array of a .npz file; {location} is a folder"
            )
        array = read_image_folder(location, size)
        return _in_memory(location, "images", None, array, str(location))
    if size is not None:
        raise DataError(
            f"an image size resizes the images of a folder; {location} is a file: resize "
            "its arrays before saving them"
        )
    if suffix == ".npy":
        if key is not None:
            raise DataError(
                f"a data key ({key!r}) names an array of a .npz file; {location} is a .npy file"
            )
        return _open_npy(location)
    if suffix == ".npz":
        return _open_npz(location, key)
    raise DataError(
        f"{location} is not a .npy or .npz file or a folder of PNG or JPEG images; save "
        "your array with np.save(path, array) first"
    )
