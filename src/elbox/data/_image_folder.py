"""A folder of PNG and JPEG images, read with Pillow into one array, exactly or not at all.

Each image is read in its own mode and bit depth:

| stored as | read as |
|---|---|
| PNG greyscale, 1, 2, 4 or 8 bits | `L`, 8-bit (Pillow scales 1, 2 and 4 bits to 0..255 exactly) |
| PNG greyscale, 16 bits | `L`, 16-bit |
| PNG greyscale + alpha, 8 bits | `LA` |
| PNG RGB, 8 bits | `RGB` |
| PNG RGBA, 8 bits | `RGBA` |
| PNG palette, 1 to 8 bits | `RGB`, or `RGBA` when the palette has transparency |
| PNG greyscale or RGB, 8 bits, with a transparent colour (tRNS) | `LA` or `RGBA` |
| JPEG greyscale or colour | `L` or `RGB`, 8-bit |

Refused, with one line naming the file: 16-bit colour, 16-bit greyscale + alpha and
16-bit images with a transparent colour (Pillow reads them as 8 bits), CMYK JPEGs,
animated PNGs and any other format.

All the images of a folder must share one mode and one bit depth; otherwise the folder is
refused, naming two files that differ, unless `image_mode` says what to convert them to:

- `L` <-> `RGB`: a grey value is copied into the three channels; RGB becomes grey by the
  ITU-R 601-2 luma, `(299 R + 587 G + 114 B) / 1000` rounded to the nearest integer (as
  Pillow's `convert("L")`);
- adding alpha gives every pixel full opacity; `L` and `RGB` drop the alpha channel;
- when 8-bit and 16-bit images meet, the 8-bit values are multiplied by 257, which maps
  0..255 onto 0..65535 exactly.

The array is uint8 for 8-bit images and uint16 for 16-bit ones, to be scaled by 255 or
65535 into [0, 1].
"""

import dataclasses
import os
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from ._errors import DataError

ImageMode = Literal["L", "LA", "RGB", "RGBA"]
"""The modes a folder's images are read in: grey, grey and alpha, RGB, RGB and alpha."""

IMAGE_MODES: Final = ("L", "LA", "RGB", "RGBA")
IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg")
# Pillow's names for the formats accepted (MPO: a JPEG with extra frames, as cameras write).
_FORMATS: Final = ("PNG", "JPEG", "MPO")
_LISTED: Final = 5
_CHANNELS: Final = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
# A PNG file's colour types (its IHDR chunk), by name.
_PNG_COLOUR: Final = {0: "greyscale", 2: "RGB", 3: "palette", 4: "greyscale + alpha", 6: "RGBA"}
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass(frozen=True)
class ImageKind:
    """How an image is read: its mode and bits per channel (8 or 16)."""

    mode: ImageMode
    bits: int

    def describe(self) -> str:
        return f"{self.bits}-bit {self.mode}"


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


def _png_header(path: Path) -> tuple[int, int]:
    """A PNG file's bit depth and colour type, read from its IHDR chunk."""
    with path.open("rb") as file:
        header = file.read(26)
    if len(header) < 26 or not header.startswith(_PNG_SIGNATURE) or header[12:16] != b"IHDR":
        raise DataError(f"{path} is not a readable PNG image: its header is damaged")
    return header[24], header[25]


_CONVERT_HINT: Final = (
    "convert it to 8 bits per channel, or save the images as a uint16 .npy array "
    "(n, height, width, channels)"
)


def _kind(path: Path, image: Any) -> ImageKind:
    """The mode and depth `image` (opened from `path`) is read in, or a DataError."""
    transparent = "transparency" in image.info
    if image.format == "PNG":
        if getattr(image, "n_frames", 1) > 1:
            raise DataError(
                f"{path} is an animated PNG of {image.n_frames} frames; save its frames as "
                "separate images"
            )
        bits, colour = _png_header(path)
        name = _PNG_COLOUR.get(colour, f"colour type {colour}")
        if bits == 16 and (colour != 0 or transparent):
            extra = " with a transparent colour" if colour == 0 else ""
            raise DataError(
                f"{path} is a 16-bit {name} PNG{extra}, which Pillow reads as 8 bits per "
                f"channel; {_CONVERT_HINT}"
            )
        if colour == 0:
            return ImageKind("LA" if transparent else "L", 16 if bits == 16 else 8)
        if colour == 3:
            return ImageKind("RGBA" if transparent else "RGB", 8)
        modes: dict[int, ImageMode] = {2: "RGBA" if transparent else "RGB", 4: "LA", 6: "RGBA"}
        if colour in modes:
            return ImageKind(modes[colour], 8)
        raise DataError(f"{path} is a PNG of unknown colour type {colour}; convert it")
    if image.mode in ("L", "RGB"):  # JPEG
        return ImageKind(image.mode, 8)
    raise DataError(
        f"{path} is a {image.mode} {image.format} image; elbox reads greyscale and RGB "
        "JPEGs: convert it to RGB"
    )


def _pixels(image: Any, kind: ImageKind) -> npt.NDArray[Any]:
    """The image's values `(height, width, channels)`, uint8 or uint16, in `kind`."""
    if kind.bits == 16:
        values = np.asarray(image, np.uint16)
    else:
        values = np.asarray(image.convert(kind.mode), np.uint8)
    return values.reshape(values.shape[0], values.shape[1], _CHANNELS[kind.mode])


def _luma(rgb: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """ITU-R 601-2 luma, rounded to the nearest integer (Pillow's RGB to L)."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    return (299 * r + 587 * g + 114 * b + 500) // 1000


def convert_pixels(
    values: npt.NDArray[Any], source: ImageKind, target: ImageKind
) -> npt.NDArray[Any]:
    """`values` of an image read as `source`, converted to `target` by the module's rules."""
    maximum = (1 << target.bits) - 1
    wide = values.astype(np.int64)
    if source.bits == 8 and target.bits == 16:
        wide = wide * 257
    has_alpha = source.mode in ("LA", "RGBA")
    colour = wide[..., :-1] if has_alpha else wide
    alpha = wide[..., -1:] if has_alpha else np.full((*wide.shape[:2], 1), maximum, np.int64)
    grey = colour.shape[-1] == 1
    if target.mode in ("L", "LA"):
        colour = colour if grey else _luma(colour)[..., None]
    elif grey:
        colour = np.repeat(colour, 3, axis=-1)
    parts = [colour, alpha] if target.mode in ("LA", "RGBA") else [colour]
    dtype = np.uint16 if target.bits == 16 else np.uint8
    return np.concatenate(parts, axis=-1).astype(dtype)


def _resized(values: npt.NDArray[Any], height: int, width: int) -> npt.NDArray[Any]:
    """Each channel resized bilinearly (in float32), rounded back to the values' dtype."""
    from PIL import Image

    maximum = float(np.iinfo(values.dtype).max)
    channels = []
    for channel in range(values.shape[-1]):
        plane = Image.fromarray(values[..., channel].astype(np.float32), mode="F")
        resized = np.asarray(plane.resize((width, height), Image.Resampling.BILINEAR))
        channels.append(np.clip(np.rint(resized), 0.0, maximum))
    return np.stack(channels, axis=-1).astype(values.dtype)


def read_image_folder(
    folder: Path,
    image_size: tuple[int, int] | None = None,
    image_mode: ImageMode | None = None,
) -> npt.NDArray[np.uint8] | npt.NDArray[np.uint16]:
    """The images under `folder` as an array `(n, height, width, channels)`: uint8 for
    8-bit images, uint16 for 16-bit ones (see the module's table for what each file is
    read as).

    With `image_size=(height, width)` each image is resized to it (bilinear, per channel);
    otherwise all must have the same size. With `image_mode` every image is converted to
    that mode (and 8-bit values widened to 16 bits when 16-bit images are among them);
    otherwise all must share one mode and bit depth.

    Raises:
        DataError: for a folder with other files than images, no images, an image that
            cannot be read exactly (naming it), images of different sizes, modes or bit
            depths (naming two of them) without `image_size` or `image_mode`.
    """
    from PIL import Image  # Pillow: a dependency of elbox (and of matplotlib)

    paths = _image_files(folder)
    sizes: dict[tuple[int, int], Path] = {}
    kinds: dict[ImageKind, Path] = {}
    found: list[ImageKind] = []
    for path in paths:
        try:
            with Image.open(path) as image:
                if image.format not in _FORMATS:
                    raise DataError(
                        f"{path} is a {image.format} image, not PNG or JPEG; convert it to PNG"
                    )
                kind = _kind(path, image)
                width, height = image.size
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise DataError(f"{path} is not a readable PNG or JPEG image: {error}") from None
        found.append(kind)
        kinds.setdefault(kind, path)
        sizes.setdefault((height, width), path)
    if image_size is None and len(sizes) > 1:
        (size_a, path_a), (size_b, path_b) = list(sizes.items())[:2]
        raise DataError(
            f"the images in {folder} differ in size: {path_a.relative_to(folder)} is "
            f"{size_a[0]}x{size_a[1]} and {path_b.relative_to(folder)} is {size_b[0]}x"
            f"{size_b[1]} (height x width); resize them all to one size (--image-size H W "
            "on the command line, image_size=(H, W) in Python)"
        )
    if image_mode is None and len(kinds) > 1:
        (kind_a, path_a), (kind_b, path_b) = list(kinds.items())[:2]
        raise DataError(
            f"the images in {folder} differ in mode or bit depth: "
            f"{path_a.relative_to(folder)} is {kind_a.describe()} and "
            f"{path_b.relative_to(folder)} is {kind_b.describe()}; say what to convert them "
            "to (--image-mode L, LA, RGB or RGBA on the command line, image_mode=... in "
            "Python; the command-line guide gives the rules)"
        )
    bits = max(kind.bits for kind in kinds)
    target = ImageKind(image_mode, bits) if image_mode is not None else found[0]
    height, width = image_size if image_size is not None else next(iter(sizes))
    dtype = np.uint16 if bits == 16 else np.uint8
    images: npt.NDArray[Any] = np.empty((len(paths), height, width, _CHANNELS[target.mode]), dtype)
    for index, (path, kind) in enumerate(zip(paths, found, strict=True)):
        try:
            with Image.open(path) as image:
                values = _pixels(image, kind)
        except (OSError, ValueError) as error:
            raise DataError(f"{path} is not a readable PNG or JPEG image: {error}") from None
        if kind != target:
            values = convert_pixels(values, kind, target)
        if values.shape[:2] != (height, width):
            values = _resized(values, height, width)
        images[index] = values
    return images
