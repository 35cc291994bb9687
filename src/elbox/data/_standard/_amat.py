"""The `.amat` text files of binarised MNIST (Larochelle & Murray 2011).

Each line is one 28 x 28 image, flattened row by row: 784 values, each `0` or `1`,
separated by spaces. The published files hold 50,000 (train), 10,000 (valid) and 10,000
(test) lines.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from .._errors import DataError
from ._cache import new_npy, pack_bits, packed_width

IMAGE_SHAPE: Final = (28, 28, 1)
PIXELS: Final = 28 * 28
_LINES_PER_CHUNK: Final = 4096
# The published layout: single digits separated by single spaces.
_LINE_BYTES: Final = 2 * PIXELS - 1
_ZERO, _ONE, _SPACE = ord("0"), ord("1"), ord(" ")


def _numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of the file with their numbers (from 1), without line ends."""
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            stripped = line.strip()
            if stripped:
                yield number, stripped


def _slowly(path: Path, lines: list[tuple[int, bytes]]) -> npt.NDArray[np.uint8]:
    """Lines in any spacing, each checked, with a message naming the first bad one."""
    rows = np.empty((len(lines), PIXELS), np.uint8)
    for row, (number, line) in enumerate(lines):
        values = line.split()
        if len(values) != PIXELS or any(value not in (b"0", b"1") for value in values):
            odd = next((v for v in values if v not in (b"0", b"1")), None)
            found = f"the value {odd[:20]!r}" if odd is not None else f"{len(values)} values"
            raise DataError(
                f"line {number} of {path} has {found}; a line of binarised MNIST holds "
                f"{PIXELS} values, each 0 or 1, separated by spaces"
            )
        rows[row] = np.array(values, dtype=np.uint8)
    return rows


def _parse(path: Path, lines: list[tuple[int, bytes]]) -> npt.NDArray[np.uint8]:
    if all(len(line) == _LINE_BYTES for _, line in lines):
        text = np.frombuffer(b"".join(line for _, line in lines), np.uint8)
        text = text.reshape(len(lines), _LINE_BYTES)
        digits, gaps = text[:, ::2], text[:, 1::2]
        if ((digits == _ZERO) | (digits == _ONE)).all() and (gaps == _SPACE).all():
            return digits - np.uint8(_ZERO)
    return _slowly(path, lines)


def write_amat(path: Path, cache: Path) -> int:
    """Convert the `.amat` file at `path` into a cache file of packed bits; the number of
    images. The file is read twice, a chunk of lines at a time: once to count them."""
    count = sum(1 for _ in _numbered_lines(path))
    if not count:
        raise DataError(f"{path} holds no images (no line of 0s and 1s)")
    with new_npy(cache, (count, packed_width(PIXELS)), np.dtype(np.uint8)) as out:
        chunk: list[tuple[int, bytes]] = []
        for numbered in _numbered_lines(path):
            chunk.append(numbered)
            if len(chunk) == _LINES_PER_CHUNK:
                out.write(pack_bits(_parse(path, chunk)))
                chunk = []
        if chunk:
            out.write(pack_bits(_parse(path, chunk)))
    return count
