"""The shapes factor grids of `--dataset shapes_grid` and `shapes_grid_upright`, split into
disjoint sets of images.

Not every factor code of a grid draws an image of its own: a square or an ellipse turned
half a turn is the same image, and at some sizes two neighbouring scales of a sprite
round to the same pixels (the full grid's 46,080 codes draw 29,184 distinct images, the
upright grid's 4,608 codes 3,840). So the grid is split by image: a seeded permutation
of its distinct images is cut in three, the training pool (the training and validation
images), the test images, and the held-out images, whose codes (every code that draws
one of them) are what `elbox eval` and the studies draw the disentanglement scores'
points from. No image is in two of them, so the test and the scores see only images the
model never trained on. (disentanglement_lib scores a model on draws from the whole data
set it trained on; the scores are defined the same way on a subset.)
"""

import dataclasses
import functools
from typing import Final

import numpy as np
import numpy.typing as npt

from .. import data as datasets

GRID_DATASETS: Final = ("shapes_grid", "shapes_grid_upright")
"""The `--dataset` names of the shapes factor grids, which have ground-truth factors."""


@dataclasses.dataclass(frozen=True)
class GridSize:
    """How a grid is drawn and cut.

    Attributes:
        rotations: the grid's number of rotations (1: every sprite upright, and the
            rotation is not a factor).
        pool: the codes of the training and validation images.
        test: the codes of the test images.
    """

    rotations: int
    pool: int
    test: int


GRID_SIZES: Final = {
    # 3 shapes x 6 scales x 10 rotations x 16 x 16 positions = 46,080 codes, 29,184
    # distinct images: 18,000 for training and validation, 2,000 for test, 9,184 held out.
    "shapes_grid": GridSize(rotations=10, pool=18_000, test=2_000),
    # 3 x 6 x 16 x 16 = 4,608 codes, 3,840 distinct images: 2,400 for training and
    # validation, 400 for test, 1,040 held out.
    "shapes_grid_upright": GridSize(rotations=1, pool=2_400, test=400),
}

SPLIT_SEED: Final = 0


@dataclasses.dataclass(frozen=True)
class GridSplits:
    """A grid's codes, cut by image into disjoint sets (codes of `grid`, one row each).

    Attributes:
        grid: the full grid.
        pool: one code per image of the training and validation images.
        test: one code per test image.
        scoring: every code of the held-out images, as ground-truth data for the scores
            (a `FactorSubset` that shows the grid's varying factors only).
        distinct_images: how many distinct images the grid's codes draw.
    """

    grid: datasets.ShapesGrid
    pool: npt.NDArray[np.int64]
    test: npt.NDArray[np.int64]
    scoring: datasets.FactorSubset
    distinct_images: int

    def images(self, codes: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """The grid's images of `codes`, float32 `(num, size, size, 1)`."""
        return self.grid.sample_observations_from_factors(codes)


@functools.cache
def grid_splits(dataset: str) -> GridSplits:
    """The disjoint splits of the grid of `dataset` (`GRID_DATASETS`), the same every time."""
    size = GRID_SIZES[dataset]
    grid = datasets.ShapesGrid(num_rotations=size.rotations)
    every = np.argwhere(np.ones(grid.factors_num_values, bool)).astype(np.int64)
    pixels = grid.sample_observations_from_factors(every).reshape(len(every), -1)
    # Each code's image, as an index into the distinct images (the first code drawing each
    # represents it).
    packed = np.ascontiguousarray(np.packbits(pixels.astype(bool), axis=1))
    rows = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, image = np.unique(rows, return_index=True, return_inverse=True)
    image = image.ravel()
    order = np.random.RandomState(SPLIT_SEED).permutation(len(first))
    pool = every[first[order[: size.pool]]]
    test = every[first[order[size.pool : size.pool + size.test]]]
    held_out = np.isin(image, order[size.pool + size.test :])
    scoring = datasets.FactorSubset(grid, every[held_out], drop_constant=True)
    return GridSplits(grid, pool, test, scoring, len(first))
