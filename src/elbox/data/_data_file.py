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
from ._image_folder import IMAGE_MODES, ImageMode, read_image_folder

DataFormat = Literal["npy", "npz", "images", "bits"]
"""How the data is stored: a `.npy` file, a `.npz` file or a folder of images; `"bits"` is
a `.npy` file of binary images packed 8 pixels to a byte, as elbox caches binarised MNIST
and dSprites."""

# The scan for NaN, infinities and the value range reads about this many bytes at a time.
_SCAN_BYTES: Final = 1 << 25
# float32 tells apart every integer up to this many: a wider value range would merge some.
_FLOAT32_INTEGERS: Final = 1 << 24

RowReader = Callable[[Int[np.ndarray, " rows"]], npt.NDArray[Any]]
Progress = Callable[[int, int], object]
"""Told `(examples done, examples in all)` as a file is scanned."""


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
    chunks: Iterator[tuple[int, npt.NDArray[Any]]],
    floating: bool,
    where: str,
    progress: Progress | None = None,
    num_examples: int = 0,
) -> tuple[float, float]:
    """The smallest and largest value; a DataError counting NaN and infinite values.
    `progress(done, num_examples)` is told of each chunk's end."""
    bad, first_bad = 0, None
    low, high = math.inf, -math.inf
    for first, chunk in chunks:
        if progress is not None:
            progress(first + len(chunk), num_examples)
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


def _outside(
    chunks: Iterator[tuple[int, npt.NDArray[Any]]], low: float, high: float
) -> tuple[int, tuple[int, ...] | None]:
    """How many values lie outside [low, high], and the index of the first."""
    count, first_index = 0, None
    for first, chunk in chunks:
        outside = (chunk < low) | (chunk > high)
        if outside.any():
            count += int(np.count_nonzero(outside))
            if first_index is None:
                index = np.unravel_index(int(np.argmax(outside)), chunk.shape)
                first_index = (first + int(index[0]), *(int(i) for i in index[1:]))
    return count, first_index


@final
class DataFile:
    """Examples read from a `.npy` file, a `.npz` file or a folder of images.

    Made by [`open_data`][elbox.data.open_data], which checks the data once, and by the
    standard data sets ([`mnist`][elbox.data.mnist] and the others), whose splits are
    files of elbox's cache. `take(rows)` reads the examples at `rows` as float32:
    `(stored - offset) * scale`, which maps `scaled_from` onto [0, 1] (uint8 and uint16 by
    their dtype's range, other data by the `value_range` asked for), or floating-point
    data as it is. A `.npy` file is read lazily, so the data may be larger than the
    memory; a `.npz` file and the images of a folder are read into memory (as stored,
    e.g. uint8).

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
        scale: what `take` multiplies the stored values by, once `offset` is subtracted
            (`1/255` for 8-bit images, 1 for floating point used as it is).
        offset: what `take` subtracts from the stored values first (0 but for a
            `value_range` that starts elsewhere).
        scaled_from: the stored values mapped onto 0 and 1 (`(0, 255)` for uint8, the
            `value_range` asked for, ...), or None for floating-point data used as it is.
        value_range: `(low, high)` of the values `take` returns: `(0.0, 1.0)` for scaled
            data, the smallest and largest value of floating-point data used as it is.
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
        *,
        offset: float = 0.0,
        scaled_from: tuple[float, float] | None = None,
    ) -> None:
        self.path = path
        self.format: DataFormat = format
        self.key = key
        self.num_examples = shape[0]
        self.example_shape = _example_shape(shape)
        self.dtype = dtype
        self.scale = scale
        self.offset = offset
        self.scaled_from = scaled_from
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
        if self.offset != 0.0 or (values.dtype.itemsize > 2 and values.dtype.kind in "iu"):
            # Wide integers and shifted ranges: subtracted in float64, where it is exact.
            wide = (values.astype(np.float64) - self.offset) * self.scale
            return wide.astype(np.float32)
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


Chunks = Callable[[], Iterator[tuple[int, npt.NDArray[Any]]]]


@final
class _Scaling:
    """How stored values become the values `take` returns: `(x - offset) * scale`."""

    def __init__(
        self,
        offset: float,
        scale: float,
        value_range: tuple[float, float],
        scaled_from: tuple[float, float] | None,
    ) -> None:
        self.offset, self.scale = offset, scale
        self.value_range, self.scaled_from = value_range, scaled_from


def _scaling(
    dtype: np.dtype[Any],
    chunks: Chunks,
    where: str,
    value_range: tuple[float, float] | None,
    progress: Progress | None,
    num_examples: int,
) -> _Scaling:
    """The rule for `dtype` (see `open_data`), after checking the values it needs to."""
    if value_range is not None:
        low, high = value_range
        if dtype.kind in "iub" and high - low > _FLOAT32_INTEGERS:
            raise DataError(
                f"a value range of {low:g} to {high:g} spans more than 2**24 integers, which "
                f"float32 cannot all tell apart; {where} would not be read exactly: narrow "
                "the range, or convert the data to floating point yourself"
            )
        if dtype.kind == "f":  # NaN and infinities are refused first
            _scan(chunks(), True, where, progress, num_examples)
        count, first = _outside(chunks(), low, high)
        if count:
            found_low, found_high = _scan(chunks(), dtype.kind == "f", where)
            raise DataError(
                f"{where} holds {count} value{'s' if count > 1 else ''} outside the value "
                f"range {low:g} to {high:g}, the first at index {first}; its values run from "
                f"{found_low:g} to {found_high:g}: give a value range that holds them all"
            )
        return _Scaling(low, 1.0 / (high - low), (0.0, 1.0), (low, high))
    if dtype.kind == "b":
        return _Scaling(0.0, 1.0, (0.0, 1.0), (0.0, 1.0))
    if dtype == np.uint8 or dtype == np.uint16:  # by the dtype's range: no need to read
        maximum = float(np.iinfo(dtype).max)
        return _Scaling(0.0, 1.0 / maximum, (0.0, 1.0), (0.0, maximum))
    low, high = _scan(chunks(), dtype.kind == "f", where, progress, num_examples)
    if dtype.kind in "iu":
        raise DataError(
            f"{where} holds {dtype} values from {low:g} to {high:g}; elbox scales integers "
            "by their dtype's range only for uint8 (0 to 255) and uint16 (0 to 65535): say "
            "which range these values come from with --value-range LO HI (value_range=(LO, "
            "HI) in Python), e.g. --value-range 0 4095 for 12-bit data, or save them as "
            "uint8 or uint16"
        )
    return _Scaling(0.0, 1.0, (low, high), None)


def _open_npy(
    path: Path, value_range: tuple[float, float] | None, progress: Progress | None
) -> DataFile:
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

    scaling = _scaling(dtype, chunks, str(path), value_range, progress, shape[0])
    return _data_file(path, "npy", None, shape, dtype, scaling, reader)


def _data_file(
    path: Path,
    format: DataFormat,
    key: str | None,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    scaling: _Scaling,
    reader: RowReader,
) -> DataFile:
    return DataFile(
        path,
        format,
        key,
        shape,
        dtype,
        scaling.scale,
        scaling.value_range,
        reader,
        offset=scaling.offset,
        scaled_from=scaling.scaled_from,
    )


def _in_memory(
    path: Path,
    format: DataFormat,
    key: str | None,
    array: npt.NDArray[Any],
    where: str,
    value_range: tuple[float, float] | None,
) -> DataFile:
    shape = tuple(int(size) for size in array.shape)
    _check_numeric(array.dtype, where)
    _check_shape(shape, where)

    def chunks() -> Iterator[tuple[int, npt.NDArray[Any]]]:
        return _array_chunks(array, array.dtype.itemsize * math.prod(shape[1:]))

    scaling = _scaling(array.dtype, chunks, where, value_range, None, shape[0])

    def reader(rows: Int[np.ndarray, " rows"]) -> npt.NDArray[Any]:
        return np.asarray(array[rows])

    return _data_file(path, format, key, shape, array.dtype, scaling, reader)


def _open_npz(path: Path, key: str | None, value_range: tuple[float, float] | None) -> DataFile:
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
    return _in_memory(path, "npz", key, array, f"{path}[{key!r}]", value_range)


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


def _checked_value_range(value_range: object) -> tuple[float, float] | None:
    if value_range is None:
        return None
    if (
        isinstance(value_range, tuple | list)
        and len(value_range) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value_range)
        and all(math.isfinite(v) for v in value_range)
        and value_range[0] < value_range[1]
    ):
        return float(value_range[0]), float(value_range[1])
    raise ValueError(
        f"value_range must be (low, high), two finite numbers low < high; got {value_range!r}"
    )


def open_data(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    image_size: tuple[int, int] | None = None,
    image_mode: ImageMode | None = None,
    value_range: tuple[float, float] | None = None,
    progress: Progress | None = None,
) -> DataFile:
    """Open your own data for training, and check it before any training starts.

    - A `.npy` file: the first axis indexes the examples. It is memory-mapped
      (`np.load(path, mmap_mode="r")`) and its rows are read as batches need them, so a
      file larger than the memory trains with bounded resident memory.
    - A `.npz` file: the array named `key`, or its only array; read into memory.
    - A folder of PNG or JPEG images (sub-folders included; hidden files skipped), read
      with Pillow into memory, each in its own mode (grey, grey and alpha, RGB, RGBA) and
      bit depth (8 or 16): uint8 or uint16. All must have the same size, unless
      `image_size=(height, width)` resizes them, and the same mode and depth, unless
      `image_mode` converts them; images that cannot be read exactly (16-bit colour,
      CMYK) are refused. The command-line guide gives the rules.

    Arrays hold vectors `(n, features)`, greyscale images `(n, height, width)` or images
    with channels last `(n, height, width, channels)`. The values become float32 by one
    stated rule, which `DataFile.scaled_from` records:

    - `value_range=(lo, hi)`: `(x - lo) / (hi - lo)`, mapping [lo, hi] onto [0, 1]; a
      value outside the range is refused (with the count and the first index);
    - otherwise uint8 and uint16 by their dtype's range (`x / 255`, `x / 65535`), bool as
      0 and 1, floating-point values as they are (checked for NaN and infinities once, in
      chunks); any other integer dtype (int16, int64, ...) is refused with its values'
      range, since its dtype's range is no guide to what it holds: give `value_range`.

    Args:
        path: the `.npy` or `.npz` file, or the folder of images.
        key: the array to use in a `.npz` file holding several.
        image_size: `(height, width)` to resize a folder's images to.
        image_mode: `"L"`, `"LA"`, `"RGB"` or `"RGBA"`: convert a folder's images to it.
        value_range: `(lo, hi)`, the range of the stored values, mapped onto [0, 1].
        progress: called with `(examples done, examples in all)` as a `.npy` file's
            values are scanned (for a progress bar).

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
    scaled = _checked_value_range(value_range)
    if image_mode is not None and image_mode not in IMAGE_MODES:
        raise ValueError(f"image_mode must be one of {IMAGE_MODES}; got {image_mode!r}")
    if not location.exists():
        raise DataError(f"no such file or folder: {location}")
    suffix = location.suffix.lower()
    if location.is_dir():
        if key is not None:
            raise DataError(
                f"a data key ({key!r}) names an array of a .npz file; {location} is a folder"
            )
        array = read_image_folder(location, size, image_mode)
        return _in_memory(location, "images", None, array, str(location), scaled)
    if image_mode is not None:
        raise DataError(
            f"an image mode converts the images of a folder; {location} is a file: convert "
            "its arrays before saving them"
        )
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
        return _open_npy(location, scaled, progress)
    if suffix == ".npz":
        return _open_npz(location, key, scaled)
    raise DataError(
        f"{location} is not a .npy or .npz file or a folder of PNG or JPEG images; save "
        "your array with np.save(path, array) first"
    )
