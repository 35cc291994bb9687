"""dSprites (Matthey et al. 2017): 737,280 sprites with known factors, ground truth for the
disentanglement scores."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final, final

import numpy as np
import numpy.typing as npt
from jaxtyping import Float32, Float64, Int64, Integer

from .._data_file import DataFile
from .._factor_codes import checked_codes, sample_codes
from ._cache import CacheDamagedError, load_array, open_images
from ._dsprites_npz import IMAGES_FILE, SIDE, SIZES_FILE, VALUES_FILE, write_dsprites
from ._prepare import prepared

FACTOR_NAMES: Final = ("shape", "scale", "orientation", "x", "y")


@final
class DSprites:
    """dSprites: every combination of 3 shapes, 6 scales, 40 orientations and 32 x 32
    positions, drawn once as a 64 x 64 binary image: 737,280 images.

    Made by [`dsprites`][elbox.data.dsprites]. `images` holds them all in the published
    order, read from elbox's cache by rows (packed 8 pixels a byte on disk: 377 MB), so
    they never have to fit in memory.

    It is ground-truth data in disentanglement_lib's sense and implements
    [`elbox.metrics.GroundTruthData`][elbox.metrics.GroundTruthData] as
    disentanglement_lib's `DSprites` does: five factors (the constant colour left out),
    factor codes drawn from a random state, and the image of a code read from the file,
    so the disentanglement scores of `elbox.metrics` run on it as on
    [`ShapesGrid`][elbox.data.ShapesGrid].

    Attributes:
        images: all images, `take(rows)` giving float32 `(rows, 64, 64, 1)` of 0s and 1s.
        factor_names: `("shape", "scale", "orientation", "x", "y")`.
        factors_num_values: the number of values of each factor, `(3, 6, 40, 32, 32)`.
        observation_shape: `(64, 64, 1)`.
        folder: where the published file and the cache are, in the data folder.
    """

    def __init__(
        self,
        images: DataFile,
        sizes: Int64[np.ndarray, " 6"],
        values: Float64[np.ndarray, "6 max_size"],
        folder: Path,
    ) -> None:
        self.images = images
        self.factor_names: tuple[str, ...] = FACTOR_NAMES
        self.factors_num_values: tuple[int, ...] = tuple(int(size) for size in sizes[1:])
        self.observation_shape = (SIDE, SIDE, 1)
        self.folder = folder
        self._values = values[1:]
        # Row of an image = its codes (the colour's is 0) dotted with these strides.
        self._strides = np.array(
            [int(np.prod(self.factors_num_values[k + 1 :])) for k in range(self.num_factors)],
            np.int64,
        )

    @property
    def num_factors(self) -> int:
        """The number of factors, 5."""
        return len(self.factors_num_values)

    def __len__(self) -> int:
        """The number of images."""
        return self.images.num_examples

    def index_of(self, factors: Integer[np.ndarray, "num 5"]) -> Int64[np.ndarray, " num"]:
        """The row in `images` of each row of factor codes.

        Raises:
            ValueError: for codes of the wrong shape or type, or outside the grid.
        """
        codes = checked_codes(factors, self.factors_num_values, self.factor_names)
        rows: npt.NDArray[np.int64] = codes @ self._strides
        return rows

    def factors_of(self, rows: Integer[np.ndarray, " num"]) -> Int64[np.ndarray, "num 5"]:
        """The factor codes of the images at `rows` (the inverse of `index_of`)."""
        indices = np.asarray(rows)
        if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(f"rows must be a 1-D array of integers; got {indices!r}")
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"rows must lie in [0, {len(self)})")
        codes: npt.NDArray[np.int64] = np.stack(
            np.unravel_index(indices, self.factors_num_values), axis=1
        ).astype(np.int64)
        return codes

    def sample_factors(
        self, num: int, random_state: np.random.RandomState | np.random.Generator
    ) -> Integer[np.ndarray, "num 5"]:
        """`num` factor codes drawn uniformly, int64 of shape `(num, 5)`: each factor in
        turn, `random_state.randint(n_k, size=num)`, as disentanglement_lib draws them."""
        return sample_codes(self.factors_num_values, num, random_state)

    def sample_observations_from_factors(
        self,
        factors: Integer[np.ndarray, "num 5"],
        random_state: np.random.RandomState | np.random.Generator | None = None,
    ) -> Float32[np.ndarray, "num 64 64 1"]:
        """The image of each row of factor codes: float32 `(num, 64, 64, 1)` of 0s and 1s.

        Deterministic: `random_state` is accepted for disentanglement_lib's interface and
        not used.

        Raises:
            ValueError: for codes of the wrong shape or type, or outside the grid.
        """
        return self.images.take(self.index_of(factors))

    def sample(
        self, num: int, random_state: np.random.RandomState | np.random.Generator
    ) -> tuple[Integer[np.ndarray, "num 5"], Float32[np.ndarray, "num 64 64 1"]]:
        """`num` factor codes and their images."""
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(
        self, num: int, random_state: np.random.RandomState | np.random.Generator
    ) -> Float32[np.ndarray, "num 64 64 1"]:
        """`num` images of random factor codes."""
        return self.sample(num, random_state)[1]

    def factor_values(
        self, factors: Integer[np.ndarray, "num 5"]
    ) -> dict[str, Float64[np.ndarray, " num"]]:
        """The values that factor codes stand for, from the file's `latents_values`: the
        shape (1 square, 2 ellipse, 3 heart), the scale (0.5 to 1), the orientation (0 to
        2 pi radians) and the position x, y (0 to 1)."""
        codes = checked_codes(factors, self.factors_num_values, self.factor_names)
        return {name: self._values[k, codes[:, k]] for k, name in enumerate(self.factor_names)}

    def __repr__(self) -> str:
        return f"DSprites({len(self)} images, factors {self.factors_num_values})"


def _open(cache: Path, folder: Path) -> DSprites:
    sizes = load_array(cache / SIZES_FILE)
    values = load_array(cache / VALUES_FILE)
    if sizes.shape != (6,) or values.shape != (6, int(sizes.max())):
        raise CacheDamagedError(f"{cache}: the factor tables do not fit each other")
    images = open_images(cache / IMAGES_FILE, "bits", (SIDE, SIDE, 1))
    if images.num_examples != int(np.prod(sizes)):
        raise CacheDamagedError(f"{cache}: {images.num_examples} images for factors {sizes}")
    return DSprites(images, sizes.astype(np.int64), values.astype(np.float64), folder)


def dsprites(
    data_dir: str | os.PathLike[str] | None = None, *, download: bool | None = None
) -> DSprites:
    """dSprites, the ground-truth data set of the disentanglement literature.

    Read from DeepMind's `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`
    (github.com/deepmind/dsprites-dataset; downloaded when missing), checked against its
    published digests, and converted once, a chunk at a time, into elbox's cache in the
    data folder's `dsprites/`: the images packed 8 pixels a byte, and the factors' codes
    and values. The `.npz` is read without unpickling: its `metadata` entry (a pickled
    dict) is never opened; the factors' sizes come from `latents_classes`, whose order is
    checked.

    dSprites has no published split; `elbox train --dataset dsprites` holds out a fixed,
    seeded part for validation and test (see the command-line guide).

    Args:
        data_dir: the data folder (see [`data_folder`][elbox.data.data_folder]).
        download: whether a missing file may be downloaded (default: unless
            `ELBOX_NO_DOWNLOAD` is set).

    Returns:
        A [`DSprites`][elbox.data.DSprites].

    Raises:
        DataError: as [`mnist`][elbox.data.mnist], or for an `.npz` without dSprites'
            arrays, or whose images are not in the order of their factor codes.

    Example:
        >>> import tempfile
        >>> from elbox.data import DataError, dsprites
        >>> try:
        ...     dsprites(tempfile.mkdtemp(), download=False)
        ... except DataError as error:
        ...     print(error)
        dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz of dsprites is missing and
        downloads are off (...): put the file in .../dsprites/; it is published at
        https://github.com/deepmind/dsprites-dataset/raw/master/... (or ...)
    """

    def build(sources: Mapping[str, Path], cache: Path) -> None:
        write_dsprites(sources["archive"], cache)

    outputs = (IMAGES_FILE, SIZES_FILE, VALUES_FILE)
    return prepared("dsprites", data_dir, download, outputs=outputs, build=build, open_cache=_open)
