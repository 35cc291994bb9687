"""The shapes sprites on a discrete grid of factors: ground truth for disentanglement metrics."""

import math
from typing import Any, final

import numpy as np
import numpy.typing as npt
from jaxtyping import Float32, Int32, Integer

from ._factor_codes import checked_codes, sample_codes
from ._shapes import (
    FACTOR_NAMES,
    SCALE_RANGE,
    SHAPE_NAMES,
    _check_size,
    draw_shapes,
    position_range,
)

NUM_SCALES = 6


@final
class ShapesGrid:
    """The shapes sprites on a discrete factor grid, like dSprites, drawn on demand.

    Five factors, in the order of `factor_names`, each taking the values
    `0 .. factors_num_values[k] - 1`:

    - `shape`: square, ellipse, heart (3 values);
    - `scale`: 6 values evenly spaced from 0.5 to 1 (`scales`);
    - `rotation`: `num_rotations` angles `2 pi j / num_rotations` (`rotations`);
    - `x`, `y`: the integer pixel coordinates inside `position_range(size)`
      (`positions`): 16 of them at `size=32`, 8 to 23.

    At the defaults the grid has 3 x 6 x 40 x 16 x 16 = 184,320 images. None of them is
    stored: the class draws the 3 x 6 x `num_rotations` sprites once, with
    [`draw_shapes`][elbox.data.draw_shapes] at the centre of the grid, and makes each
    observation by moving its sprite a whole number of pixels. That gives exactly the
    image `draw_shapes` draws from the factors' values (see `factor_values`), some 50
    times faster than drawing it.

    It is ground-truth data in disentanglement_lib's sense (and implements
    [`elbox.metrics.GroundTruthData`][elbox.metrics.GroundTruthData]): factors are drawn
    from a random state, observations are a deterministic function of the factors, so
    everything is reproducible from the random state's seed.

    Args:
        size: the images' height and width in pixels, at least 8.
        num_rotations: the number of rotation angles, at least 1.

    Raises:
        ValueError: for `size < 8` or `num_rotations < 1`.

    Example:
        >>> import numpy as np
        >>> from elbox.data import ShapesGrid
        >>> data = ShapesGrid()
        >>> data.factor_names, data.factors_num_values
        (('shape', 'scale', 'rotation', 'x', 'y'), (3, 6, 40, 16, 16))
        >>> factors, images = data.sample(5, np.random.RandomState(0))
        >>> factors.shape, images.shape
        ((5, 5), (5, 32, 32, 1))
    """

    def __init__(self, *, size: int = 32, num_rotations: int = 40) -> None:
        size = _check_size(size)
        if (
            isinstance(num_rotations, bool)
            or not isinstance(num_rotations, int)
            or num_rotations < 1
        ):
            raise ValueError(f"num_rotations must be a positive int; got {num_rotations!r}")
        low, high = position_range(size)
        self.size = size
        """The images' height and width in pixels."""
        self.factor_names: tuple[str, ...] = FACTOR_NAMES
        """`("shape", "scale", "rotation", "x", "y")`."""
        self.shape_names: tuple[str, ...] = SHAPE_NAMES
        """`("square", "ellipse", "heart")`."""
        scales = np.linspace(*SCALE_RANGE, NUM_SCALES, dtype=np.float32)
        self.scales: Float32[np.ndarray, " 6"] = scales
        """The values of the `scale` factor."""
        self.rotations: Float32[np.ndarray, " num_rotations"] = (
            2.0 * np.pi * np.arange(num_rotations) / num_rotations
        ).astype(np.float32)
        """The values of the `rotation` factor, in radians."""
        self.positions: Float32[np.ndarray, " num_positions"] = np.arange(
            math.ceil(low), math.floor(high) + 1
        ).astype(np.float32)
        """The values of the `x` and `y` factors, in pixels."""
        self.factors_num_values: tuple[int, ...] = (
            len(SHAPE_NAMES),
            len(scales),
            num_rotations,
            len(self.positions),
            len(self.positions),
        )
        """The number of values of each factor."""
        self.observation_shape = (size, size, 1)
        """The shape of one image, `(size, size, 1)`."""
        self._centre = int(self.positions[len(self.positions) // 2])
        shape, scale, rotation = (
            index.ravel() for index in np.indices(self.factors_num_values[:3])
        )
        centre = np.full(shape.size, self._centre, np.float32)
        sprites = draw_shapes(
            shape.astype(np.int32),
            self.scales[scale],
            self.rotations[rotation],
            centre,
            centre,
            size=size,
        )[..., 0].astype(bool)
        # Every image is a window of a sprite padded by the largest move: the window at
        # offset (margin - dy, margin - dx) is the sprite moved dy rows down and dx columns
        # right. No shape reaches the padding, so the windows are exact.
        self._margin = int(np.max(np.abs(self.positions - self._centre)))
        padded = np.pad(sprites, ((0, 0), (self._margin,) * 2, (self._margin,) * 2))
        self._windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(1, 2))

    @property
    def num_factors(self) -> int:
        """The number of factors, 5."""
        return len(self.factors_num_values)

    def sample_factors(
        self, num: int, random_state: np.random.RandomState | np.random.Generator
    ) -> Integer[np.ndarray, "num 5"]:
        """`num` factor codes drawn uniformly from the grid, int64 of shape `(num, 5)`.

        Each factor in turn, as disentanglement_lib's dSprites does:
        `random_state.randint(n_k, size=num)` (`integers` for a `np.random.Generator`).
        """
        return sample_codes(self.factors_num_values, num, random_state)

    def sample_observations_from_factors(
        self,
        factors: Integer[np.ndarray, "num 5"],
        random_state: np.random.RandomState | np.random.Generator | None = None,
    ) -> Float32[np.ndarray, "num size size 1"]:
        """The image of each row of factor codes: float32 `(num, size, size, 1)` of 0s and 1s.

        Deterministic: `random_state` is accepted for disentanglement_lib's interface and
        not used.

        Raises:
            ValueError: for codes of the wrong shape or type, or outside the grid.
        """
        codes = self._checked_codes(factors)
        sprite = np.ravel_multi_index(codes[:, :3].T, self.factors_num_values[:3])
        dx = (self.positions[codes[:, 3]] - self._centre).astype(np.int64)
        dy = (self.positions[codes[:, 4]] - self._centre).astype(np.int64)
        lit = self._windows[sprite, self._margin - dy, self._margin - dx]
        images: npt.NDArray[np.float32] = lit.astype(np.float32)[..., None]
        return images

    def sample(
        self, num: int, random_state: np.random.RandomState | np.random.Generator
    ) -> tuple[Integer[np.ndarray, "num 5"], Float32[np.ndarray, "num size size 1"]]:
        """`num` factor codes and their images."""
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(
        self, num: int, random_state: np.random.RandomState | np.random.Generator
    ) -> Float32[np.ndarray, "num size size 1"]:
        """`num` images of random factor codes."""
        return self.sample(num, random_state)[1]

    def factor_values(
        self, factors: Integer[np.ndarray, "num 5"]
    ) -> dict[str, Float32[np.ndarray, " num"] | Int32[np.ndarray, " num"]]:
        """The values that factor codes stand for, as `Shapes.factors` holds them.

        `draw_shapes(**grid.factor_values(factors), size=grid.size)` draws the images
        that `sample_observations_from_factors(factors)` returns.

        Raises:
            ValueError: for codes of the wrong shape or type, or outside the grid.
        """
        codes = self._checked_codes(factors)
        return {
            "shape": codes[:, 0].astype(np.int32),
            "scale": self.scales[codes[:, 1]],
            "rotation": self.rotations[codes[:, 2]],
            "x": self.positions[codes[:, 3]],
            "y": self.positions[codes[:, 4]],
        }

    def __repr__(self) -> str:
        return f"ShapesGrid(size={self.size}, num_rotations={self.factors_num_values[2]})"

    def _checked_codes(self, factors: Any) -> npt.NDArray[np.int64]:
        return checked_codes(factors, self.factors_num_values, self.factor_names)
