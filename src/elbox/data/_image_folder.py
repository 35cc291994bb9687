"""A folder of PNG and JPEG images, read with Pillow into one uint8 array."""

import os
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ._errors import DataError

IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg")
# Pillow's names for the formats accepted (MPO: a JPEG with extra frames, as cameras write).
_FORMATS: Final = ("PNG", "JPEG", "MPO")
# Pillow modes read as one grey channel; any other mode is read as RGB.
_GREY_MODES: Final = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
_LISTED: Final = 5


def _listing(paths: list[str]) -> str:
    shown = ", ".join(paths[:_LISTED])
    return shown if len(paths) <= _LISTED else f"{shown} and {len(paths) - _LISTED} more"


def _image_files(folder: Path) -> list[Path]:
    """The image files under `folder` (sub-folders included, hidden entries skipped), in
    sorted order; a DataError naming any other file."""
    images: list[Path] = []
    others: list[str] = []
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root) / name
            if path.suffix.lower() in IMAGE_SUFFIXES:
                images.append(path)
            else:
                others.append(str(path.relative_to(folder)))
    if others:
        raise DataError(
            f"the folder {folder} holds files that are not PNG or JPEG images: "
            f"{_listing(others)}; move them out of the folder (or convert them to PNG)"
        )
    if not images:
        raise DataError(f"the folder {folder} holds no PNG or JPEG images")
    return images


def read_image_folder(
    folder: Path, image_size: tuple[int, int] | None = None
) -> npt.NDArray[np.uint8]:
    """The images under `folder` as a uint8 array `(n, height, width, channels)`.

    Every image has one channel when all are greyscale, three (RGB) otherwise; an alpha
    channel is dropped. With `image_size=(height, width)` each image is resized to it
    (bilinear); otherwise all must have the same size.

    Raises:
        DataError: for a folder with other files than images, no images, an image Pillow
            cannot read, or images of different sizes (naming two of them) without
            `image_size`.
    """
    from PIL import Image  # Pillow: a dependency of elbox (and of matplotlib)

    paths = _image_files(folder)
    sizes: dict[tuple[int, int], Path] = {}
    grey = True
    for path in paths:
        try:
            with Image.open(path) as image:
                image_format, mode, (width, height) = image.format, image.mode, image.size
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise DataError(f"{path} is not a readable PNG or JPEG image: {error}") from None
        if image_format not in _FORMATS:
            raise DataError(f"{path} is a {image_format} image, not PNG or JPEG; convert it to PNG")
        grey = grey and mode in _GREY_MODES
        sizes.setdefault((height, width), path)
    if image_size is None and len(sizes) > 1:
        (size_a, path_a), (size_b, path_b) = list(sizes.items())[:2]
        raise DataError(
            f"the images in {folder} differ in size: {path_a.relative_to(folder)} is "
            f"{size_a[0]}x{size_a[1]} and {path_b.relative_to(folder)} is {size_b[0]}x"
            f"{size_b[1]} (height x width); resize them all to one size (--image-size H W "
            "on the command line, image_size=(H, W) in Python)"
        )
    height, width = image_size if image_size is not None else next(iter(sizes))
    channels = 1 if grey else 3
    images: npt.NDArray[Any] = np.empty((len(paths), height, width, channels), np.uint8)
    for index, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                converted = image.convert("L" if grey else "RGB")
                if converted.size != (width, height):
                    converted = converted.resize((width, height), Image.Resampling.BILINEAR)
                pixels = np.asarray(converted, np.uint8)
        except (OSError, ValueError) as error:
            raise DataError(f"{path} is not a readable PNG or JPEG image: {error}") from None
        images[index] = pixels.reshape(height, width, channels)
    return images
