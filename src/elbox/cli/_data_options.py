"""The `elbox train` options for training on your own data, and where the standard data
sets are kept."""

import dataclasses
import math
from pathlib import Path
from typing import Literal

DEFAULT_SPLIT = (0.8, 0.1, 0.1)


@dataclasses.dataclass(frozen=True)
class DataOptions:
    """your own data"""

    data: Path | None = dataclasses.field(default=None, metadata={"metavar": "PATH"})
    """Train on your own data instead of --dataset: a .npy file (read lazily, so it may be
    larger than the memory), a .npz file, or a folder of PNG/JPEG images."""
    data_key: str | None = dataclasses.field(default=None, metadata={"metavar": "NAME"})
    """The array to train on in a .npz file that holds several."""
    image_size: tuple[int, int] | None = dataclasses.field(
        default=None, metadata={"metavar": ("H", "W")}
    )
    """Resize a folder's images to H x W (default: they must all have one size)."""
    image_mode: Literal["L", "LA", "RGB", "RGBA"] | None = None
    """Convert a folder's images to this mode (grey, grey and alpha, RGB, RGB and alpha) by
    the rules of the command-line guide, which also drops or adds an alpha channel
    (default: the images must all have one mode and bit depth, which is kept)."""
    value_range: tuple[float, float] | None = dataclasses.field(
        default=None, metadata={"metavar": ("LO", "HI")}
    )
    """The range of the stored values, mapped onto [0, 1]: needed for integer arrays other
    than uint8 and uint16, which are scaled by their dtype's range (default); values
    outside it are refused."""
    split: tuple[float, float, float] | None = dataclasses.field(
        default=None, metadata={"metavar": ("TRAIN", "VAL", "TEST")}
    )
    """The fractions of --data for training, validation and test (default: 0.8 0.1 0.1);
    the split is drawn with seed 0 and saved in the run folder."""
    data_dir: Path | None = dataclasses.field(default=None, metadata={"metavar": "FOLDER"})
    """Where the standard data sets (--dataset mnist, fashion_mnist, binarized_mnist,
    cifar10, dsprites) are kept, and downloaded to when missing (default: $ELBOX_DATA, else
    ~/.cache/elbox)."""
    no_download: bool = False
    """Never download: a missing file of a standard data set is an error that says where to
    put it (also: ELBOX_NO_DOWNLOAD=1)."""


def check_data_options(
    options: DataOptions, dataset_given: bool, standard: bool = False
) -> list[str]:
    """Contradictions among the data options, as messages; `standard` says whether the
    chosen --dataset is a standard one (downloaded, not bundled)."""
    problems: list[str] = []
    if not standard:
        for name in ("data_dir", "no_download"):
            if getattr(options, name):
                flag = "--" + name.replace("_", "-")
                problems.append(
                    f"{flag} applies to the standard data sets (--dataset mnist, "
                    "fashion_mnist, binarized_mnist, cifar10, dsprites)"
                )
    if options.data is None:
        for name in ("data_key", "image_size", "image_mode", "value_range", "split"):
            if getattr(options, name) is not None:
                flag = "--" + name.replace("_", "-")
                problems.append(
                    f"{flag} applies to --data (your own data); the bundled --dataset sets "
                    "have fixed splits and sizes"
                )
        return problems
    if dataset_given:
        problems.append("--data and --dataset both choose the data: give one of them")
    if options.image_size is not None and min(options.image_size) < 1:
        problems.append(f"--image-size takes two positive sizes; got {options.image_size}")
    if options.value_range is not None:
        low, high = options.value_range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            problems.append(f"--value-range takes two finite numbers LO < HI; got {low:g} {high:g}")
    if options.split is not None:
        fractions = options.split
        valid = all(math.isfinite(f) and f > 0 for f in fractions)
        if not valid or abs(sum(fractions) - 1.0) > 1e-6:
            problems.append(
                "--split takes three positive fractions (train, validation, test) that sum to "
                f"1, such as 0.8 0.1 0.1; got {' '.join(f'{f:g}' for f in fractions)}"
            )
    return problems
