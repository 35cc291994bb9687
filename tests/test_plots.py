"""The image grids of the run's plots: one mosaic per figure, tiles in place, a white gap
between them."""

from pathlib import Path

import numpy as np
from PIL import Image

from elbox.cli._plots import GAP, _mosaic, plot_samples, plot_traversals


def test_the_mosaic_puts_each_tile_in_its_place() -> None:
    # 2 rows x 3 columns of 2x4 grey tiles, tile (r, c) filled with 0.1 * (3r + c).
    tiles = np.stack(
        [np.stack([np.full((2, 4), 0.1 * (3 * r + c)) for c in range(3)]) for r in range(2)]
    )
    mosaic = _mosaic(tiles)
    assert GAP == 1
    assert mosaic.shape == (2 * 2 + 1, 3 * 4 + 2)
    for r in range(2):
        for c in range(3):
            top, left = r * 3, c * 5
            np.testing.assert_array_equal(
                mosaic[top : top + 2, left : left + 4], np.full((2, 4), 0.1 * (3 * r + c))
            )
    np.testing.assert_array_equal(mosaic[2], np.ones(14))  # the gap between the rows
    np.testing.assert_array_equal(mosaic[:, 4], np.ones(5))  # between columns 0 and 1
    np.testing.assert_array_equal(mosaic[:, 9], np.ones(5))


def test_colour_tiles_keep_their_channels() -> None:
    tiles = np.zeros((1, 2, 3, 3, 3))
    tiles[0, 1, ..., 0] = 1.0  # the second tile is red
    mosaic = _mosaic(tiles)
    assert mosaic.shape == (3, 7, 3)
    np.testing.assert_array_equal(mosaic[:, 4:, 0], np.ones((3, 3)))
    np.testing.assert_array_equal(mosaic[:, 4:, 1:], np.zeros((3, 3, 2)))
    np.testing.assert_array_equal(mosaic[:, 3], np.ones((3, 3)))  # the white gap


def test_the_figures_are_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    samples = plot_samples(rng.uniform(size=(64, 8, 8)), tmp_path / "samples.png")
    traversals = plot_traversals(
        rng.uniform(size=(2, 9, 8, 8, 3)), [3, 0], np.linspace(-3, 3, 9), tmp_path / "t.png"
    )
    for path in (samples, traversals):
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert min(image.size) > 100
