"""dSprites' `.npz` file, read without unpickling anything.

The archive (github.com/deepmind/dsprites-dataset) holds four arrays: `imgs`, uint8
`(737280, 64, 64)` of 0s and 1s; `latents_classes`, int64 `(737280, 6)`, the code of each
image's six factors (colour, shape, scale, orientation, x, y); `latents_values`, float64
`(737280, 6)`, the values those codes stand for; and `metadata`, a pickled dict, which is
never read (unpickling can run code). The images are stored in the order of their codes
(y varies fastest), which is checked.

The images are streamed out of the archive 16,384 at a time (64 MiB) into a cache file of
packed bits.
"""

import zipfile
import zlib
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .._errors import DataError
from ._cache import new_npy, pack_bits, packed_width, save_array
from ._readable import Readable

IMAGES: Final = "imgs"
CLASSES: Final = "latents_classes"
VALUES: Final = "latents_values"
LATENT_NAMES: Final = ("color", "shape", "scale", "orientation", "posX", "posY")
SIDE: Final = 64
IMAGES_FILE: Final = "images.npy"
SIZES_FILE: Final = "factor-sizes.npy"
VALUES_FILE: Final = "factor-values.npy"
_IMAGES_PER_READ: Final = 16_384


def _read_header(stream: Readable, where: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The shape and dtype in a `.npy` header (a C-ordered array of plain numbers)."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    except (ValueError, OSError, EOFError, zlib.error) as error:
        raise DataError(f"{where} is not a readable .npy array: {error}") from None
    if fortran or dtype.hasobject:
        kind = "Python objects" if dtype.hasobject else "a Fortran-ordered array"
        raise DataError(f"{where} holds {kind}; dSprites' arrays are C-ordered numbers")
    return tuple(int(size) for size in shape), dtype


def _read_array(archive: zipfile.ZipFile, key: str, where: str) -> npt.NDArray[Any]:
    try:
        with archive.open(f"{key}.npy") as stream:
            array = np.lib.format.read_array(stream, allow_pickle=False)
    except (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as error:
        raise DataError(f"{where}[{key!r}] cannot be read: {error}") from None
    return np.asarray(array)


def _factor_tables(
    classes: npt.NDArray[Any], values: npt.NDArray[Any], where: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Each factor's number of values, and the value of each code (NaN past its last)."""
    num = len(classes)
    if classes.ndim != 2 or classes.shape[1] != len(LATENT_NAMES) or classes.dtype.kind not in "iu":
        raise DataError(
            f"{where}[{CLASSES!r}] is {classes.dtype} of shape {classes.shape}; dSprites' is "
            f"integer codes of shape (n, {len(LATENT_NAMES)})"
        )
    if values.shape != classes.shape or values.dtype.kind != "f":
        raise DataError(
            f"{where}[{VALUES!r}] is {values.dtype} of shape {values.shape}; dSprites' is "
            f"floating point of shape {classes.shape}"
        )
    if classes.min() < 0:
        raise DataError(f"{where}[{CLASSES!r}] holds negative codes")
    sizes = (classes.max(axis=0) + 1).astype(np.int64)
    expected = np.stack(np.unravel_index(np.arange(num), tuple(sizes)), axis=1)
    if int(np.prod(sizes)) != num or not np.array_equal(classes, expected):
        raise DataError(
            f"{where} does not hold every combination of its factors' codes once, in order "
            f"(y fastest), as dSprites does; its factors take {sizes.tolist()} values"
        )
    if sizes[0] != 1:
        raise DataError(f"{where} has {sizes[0]} colours; dSprites has one (white)")
    table = np.full((len(sizes), int(sizes.max())), np.nan)
    for factor in range(len(sizes)):
        table[factor, classes[:, factor]] = values[:, factor]
        if not np.array_equal(table[factor, classes[:, factor]], values[:, factor]):
            raise DataError(
                f"{where}: the {LATENT_NAMES[factor]} code does not determine its value in "
                f"{VALUES!r}"
            )
    return sizes, table


def _write_images(archive: zipfile.ZipFile, cache: Path, num: int, where: str) -> None:
    member = f"{where}[{IMAGES!r}]"
    try:
        stream = archive.open(f"{IMAGES}.npy")
    except (KeyError, zipfile.BadZipFile, OSError) as error:
        raise DataError(f"{member} cannot be read: {error}") from None
    with stream:
        shape, dtype = _read_header(stream, member)
        if shape != (num, SIDE, SIDE) or dtype != np.uint8:
            raise DataError(
                f"{member} is {dtype} of shape {shape}; dSprites' images are uint8 of shape "
                f"({num}, {SIDE}, {SIDE}), one per row of {CLASSES!r}"
            )
        row = SIDE * SIDE
        with new_npy(cache / IMAGES_FILE, (num, packed_width(row)), np.dtype(np.uint8)) as out:
            for first in range(0, num, _IMAGES_PER_READ):
                count = min(_IMAGES_PER_READ, num - first)
                try:
                    data = stream.read(count * row)
                except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as error:
                    raise DataError(f"{member} cannot be read: {error}") from None
                if len(data) != count * row:
                    raise DataError(f"{member} ends early (truncated?)")
                images = np.frombuffer(data, np.uint8).reshape(count, row)
                if images.max() > 1:
                    raise DataError(
                        f"{member} holds the value {images.max()}; dSprites' are 0 and 1"
                    )
                out.write(pack_bits(images))


def write_dsprites(path: Path, cache: Path) -> None:
    """Convert the `.npz` file at `path` into cache files: the images as packed bits, each
    factor's number of values and the values of its codes."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(f"{path} is not a whole .npz (zip) archive: {error}") from None
    with archive:
        names = set(archive.namelist())
        missing = [key for key in (IMAGES, CLASSES, VALUES) if f"{key}.npy" not in names]
        if missing:
            present = ", ".join(sorted(name.removesuffix(".npy") for name in names)) or "none"
            raise DataError(
                f"{path} has no array {', '.join(map(repr, missing))}; dSprites' .npz holds "
                f"{IMAGES!r}, {CLASSES!r}, {VALUES!r} and 'metadata'; this one: {present}"
            )
        classes = _read_array(archive, CLASSES, str(path))
        values = _read_array(archive, VALUES, str(path))
        sizes, table = _factor_tables(classes, values, str(path))
        _write_images(archive, cache, len(classes), str(path))
    save_array(cache / SIZES_FILE, sizes)
    save_array(cache / VALUES_FILE, table)
