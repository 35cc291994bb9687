"""The IDX format of MNIST and Fashion-MNIST, gzip-compressed as published.

An IDX file (yann.lecun.com/exdb/mnist/) starts with a magic number of four bytes: two
zero bytes, a byte for the type of the values (0x08: unsigned byte) and a byte for the
number of dimensions; then each dimension's size as a big-endian 32-bit integer; then the
values in C order. Image files have 3 dimensions (count, rows, columns), label files 1.
"""

import gzip
import struct
import zlib
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from .._errors import DataError
from ._cache import new_npy
from ._readable import Readable

UNSIGNED_BYTE: Final = 0x08
_CHUNK_BYTES: Final = 1 << 24


def _read(stream: Readable, count: int, path: Path) -> bytes:
    try:
        return stream.read(count)
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path} is not a whole gzip-compressed IDX file: {error}") from None


def _read_exact(stream: Readable, count: int, path: Path, what: str) -> bytes:
    data = _read(stream, count, path)
    if len(data) != count:
        raise DataError(f"{path} ends early: its {what} is cut short (truncated?)")
    return data


def _header(stream: Readable, path: Path, ndim: int) -> tuple[int, ...]:
    magic = _read_exact(stream, 4, path, "magic number")
    if magic[:2] != b"\0\0" or magic[3] != ndim:
        raise DataError(
            f"{path} is not an IDX file of {ndim} dimension{'s' if ndim > 1 else ''}: its "
            f"magic number is {magic.hex()}, expected 0000{UNSIGNED_BYTE:02x}{ndim:02x}"
        )
    if magic[2] != UNSIGNED_BYTE:
        raise DataError(
            f"{path} holds IDX values of type 0x{magic[2]:02x}; MNIST's files hold unsigned "
            f"bytes (0x{UNSIGNED_BYTE:02x})"
        )
    shape = struct.unpack(f">{ndim}I", _read_exact(stream, 4 * ndim, path, "header"))
    if not all(shape):
        raise DataError(f"{path} holds no values (its dimensions are {shape})")
    return tuple(int(size) for size in shape)


def _check_end(stream: Readable, path: Path) -> None:
    if _read(stream, 1, path):
        raise DataError(f"{path} holds more bytes than its IDX header says")


def write_idx_images(path: Path, cache: Path, *, labels: Path, num_labels: int) -> None:
    """Convert the gzip-compressed IDX images at `path` into a uint8 `(n, rows, columns, 1)`
    cache file, after checking that there are as many as the `num_labels` of `labels`."""
    with gzip.open(path, "rb") as stream:
        count, rows, columns = _header(stream, path, 3)
        if count != num_labels:
            raise DataError(f"{path} holds {count} images but {labels} {num_labels} labels")
        image_bytes = rows * columns
        per_chunk = max(1, _CHUNK_BYTES // image_bytes)
        with new_npy(cache, (count, rows, columns, 1), np.dtype(np.uint8)) as out:
            for first in range(0, count, per_chunk):
                number = min(per_chunk, count - first)
                data = _read_exact(stream, number * image_bytes, path, "pixel data")
                out.write(np.frombuffer(data, np.uint8).reshape(number, rows, columns, 1))
            _check_end(stream, path)


def read_idx_labels(path: Path, num_classes: int) -> npt.NDArray[np.uint8]:
    """The labels of a gzip-compressed IDX label file, each checked to be a class index."""
    with gzip.open(path, "rb") as stream:
        (count,) = _header(stream, path, 1)
        labels = np.frombuffer(_read_exact(stream, count, path, "labels"), np.uint8).copy()
        _check_end(stream, path)
    if labels.max() >= num_classes:
        raise DataError(
            f"{path} holds the label {int(labels.max())}; the data set has {num_classes} "
            f"classes, 0 to {num_classes - 1}"
        )
    return labels
