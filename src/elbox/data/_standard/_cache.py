"""elbox's cache of a standard data set: the published files converted once into `.npy`
files whose rows can be read at any offset, so training reads only the batches it needs.

Images are stored as uint8 `(n, height, width, channels)`; binary images (binarised MNIST,
dSprites) are packed 8 pixels to a byte (`np.packbits` of each flattened image), a
`(n, ceil(pixels / 8))` uint8 array. Every cache file is written under a temporary name and
renamed when whole; a file that does not read back as expected is rebuilt.
"""

import contextlib
import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal, final

import numpy as np
import numpy.typing as npt
from jaxtyping import Int

from .._data_file import DataFile, _NpyFileRows
from ._atomic_file import atomic_file
from ._published_file import PublishedFile

Encoding = Literal["bytes", "bits"]
"""How a cache file stores images: a byte per value, or 8 binary pixels per byte."""

CACHE_VERSION: Final = 1


class CacheDamagedError(Exception):
    """A cache file that does not hold what elbox wrote into it (it is rebuilt)."""


def cache_folder(folder: Path, files: Mapping[str, PublishedFile]) -> Path:
    """The cache of the data set in `folder`, named after the files it is made from, so that
    other published files (or another cache layout) never meet an old cache."""
    identity = json.dumps(
        [
            CACHE_VERSION,
            sorted((role, f.name, sorted(f.checksums.items())) for role, f in files.items()),
        ]
    )
    return folder / f"cache-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


@final
class NpyWriter:
    """Rows of a C-ordered array written into a `.npy` file, in any order, each once."""

    def __init__(self, stream: BinaryIO, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self._stream = stream
        self.shape = shape
        self.dtype = dtype
        header = {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": False,
            "shape": shape,
        }
        np.lib.format.write_array_header_1_0(stream, header)
        self._offset = stream.tell()
        self._row_bytes = dtype.itemsize * math.prod(shape[1:])
        self._written = np.zeros(shape[0], bool)
        self._next = 0

    def write(self, rows: npt.NDArray[Any]) -> None:
        """Append `rows` after the rows written last."""
        self.write_at(self._next, rows)

    def write_at(self, first: int, rows: npt.NDArray[Any]) -> None:
        """Write `rows` as rows `first`, `first + 1`, ..."""
        if rows.dtype != self.dtype or rows.shape[1:] != self.shape[1:]:
            raise AssertionError(f"rows {rows.dtype} {rows.shape} do not fit {self.shape}")
        last = first + len(rows)
        if first < 0 or last > self.shape[0] or self._written[first:last].any():
            raise AssertionError(f"rows {first} to {last} are outside or written twice")
        self._stream.seek(self._offset + first * self._row_bytes)
        self._stream.write(np.ascontiguousarray(rows).tobytes())
        self._written[first:last] = True
        self._next = last

    def check_complete(self) -> None:
        """An AssertionError unless every row was written."""
        missing = np.flatnonzero(~self._written)
        if missing.size:
            raise AssertionError(f"rows {missing[:3].tolist()}... of {self.shape} not written")


@contextlib.contextmanager
def new_npy(path: Path, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Iterator[NpyWriter]:
    """A `.npy` file at `path` that appears only once every row was written."""
    with atomic_file(path) as stream:
        writer = NpyWriter(stream, shape, dtype)
        yield writer
        writer.check_complete()


def save_array(path: Path, array: npt.NDArray[Any]) -> None:
    """A small array saved whole (or not at all) as `.npy`."""
    with atomic_file(path) as stream:
        np.save(stream, array, allow_pickle=False)


def load_array(path: Path) -> npt.NDArray[Any]:
    """A small array that `save_array` wrote."""
    try:
        array: npt.NDArray[Any] = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise CacheDamagedError(f"{path}: {error}") from None
    return array


def packed_width(pixels: int) -> int:
    """Bytes per image of `pixels` binary pixels packed 8 to a byte."""
    return -(-pixels // 8)


def pack_bits(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Binary images `(n, ...)` of 0s and 1s, each packed into `packed_width` bytes."""
    return np.packbits(images.reshape(len(images), -1), axis=1)


@final
class _UnpackedRows:
    """Rows of a packed cache file, unpacked into `(rows, height, width, channels)` 0s and 1s."""

    def __init__(self, rows: _NpyFileRows, image_shape: tuple[int, int, int]) -> None:
        self._rows = rows
        self._image_shape = image_shape

    def __call__(self, indices: Int[np.ndarray, " rows"]) -> npt.NDArray[np.uint8]:
        packed = self._rows(indices)
        pixels = math.prod(self._image_shape)
        bits = np.unpackbits(packed, axis=1, count=pixels)
        return bits.reshape(len(indices), *self._image_shape)


def open_images(
    path: Path, encoding: Encoding, image_shape: tuple[int, int, int] | None = None
) -> DataFile:
    """The images of a cache file as a [`DataFile`][elbox.data.DataFile] read by rows.

    `image_shape` is required for packed bits; for bytes, it is read from the file when
    not given.

    Raises:
        CacheDamagedError: when the file is missing, or its header or length is not what
            `new_npy` wrote for images (of `image_shape`).
    """
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise CacheDamagedError(f"{path}: {error}") from None
    if not isinstance(mapped, np.memmap) or mapped.dtype != np.uint8 or not mapped.shape[0]:
        raise CacheDamagedError(f"{path} does not hold uint8 images")
    if encoding == "bits":
        assert image_shape is not None, "packed bits need the image shape"
        row: tuple[int, ...] = (packed_width(math.prod(image_shape)),)
    else:
        if image_shape is None and len(mapped.shape) == 4:
            image_shape = (int(mapped.shape[1]), int(mapped.shape[2]), int(mapped.shape[3]))
        if image_shape is None:
            raise CacheDamagedError(f"{path} does not hold images (n, height, width, channels)")
        row = image_shape
    if mapped.shape[1:] != row:
        raise CacheDamagedError(f"{path} holds {mapped.shape}, not images of shape (n, {row})")
    num_examples = int(mapped.shape[0])
    stored = (num_examples, *row)
    offset = int(mapped.offset)
    if path.stat().st_size != offset + mapped.nbytes or not mapped.flags.c_contiguous:
        raise CacheDamagedError(f"{path} is not {offset + mapped.nbytes} bytes long")
    del mapped
    rows = _NpyFileRows(path, offset, np.dtype(np.uint8), stored)
    shape = (num_examples, *image_shape)
    if encoding == "bits":
        reader = _UnpackedRows(rows, image_shape)
        return DataFile(path, "bits", None, shape, np.dtype(bool), 1.0, (0.0, 1.0), reader)
    return DataFile(path, "npy", None, shape, np.dtype(np.uint8), 1.0 / 255.0, (0.0, 1.0), rows)


def images_file(cache: Path, split: str) -> Path:
    """The cache file of a split's images."""
    return cache / f"{split}.npy"


def labels_file(cache: Path, split: str) -> Path:
    """The cache file of a split's labels."""
    return cache / f"{split}-labels.npy"
