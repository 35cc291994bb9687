"""Binary sprites with known generative factors, in the spirit of dSprites, drawn with NumPy.

Geometry. A shape's *circumradius* (the largest distance from its centre to a point of the
shape) is `scale * size / 5` pixels. In its own frame, with the circumradius as the unit:

- square: `max(|u|, |v|) <= 1/sqrt(2)`: side `sqrt(2) * scale * size / 5` pixels;
- ellipse: `u**2 + (v / 0.6)**2 <= 1`: semi-axes `scale * size / 5` and `0.6` times that;
- heart: the curve `(U**2 + V**2 - 1)**3 - U**2 * V**3 <= 0`, upright, moved so that the
  centroid of its area is the centre and shrunk so that its tip is at distance 1.

Pixel `(row i, column j)` is lit when its centre, the point `(x=j, y=i)`, lies inside the
shape, or when it is the pixel nearest the shape's centre (so that even the smallest shape
at `size=8` shows; from `size=16` on that pixel is inside every shape anyway).
"""

import dataclasses
import math
from typing import Final, final

import numpy as np
from jaxtyping import Bool, Float32, Float64, Int32

SHAPE_NAMES: Final = ("square", "ellipse", "heart")
"""The shapes that `shapes` draws, in the order of their indices in the `shape` factor."""
FACTOR_NAMES: Final = ("shape", "scale", "rotation", "x", "y")
"""The generative factors of `shapes`: the keys of `Shapes.factors`, in this order."""
SCALE_RANGE: Final = (0.5, 1.0)

# The circumradius of a shape at scale 1, as a fraction of the image size.
_RADIUS_FRACTION = 0.2
# Empty pixels kept between a shape's circumscribed circle and the image border.
_MARGIN = 1.0
_ELLIPSE_MINOR = 0.6
# The centroid of the heart's area is at V = 0.29348 in the curve's own coordinates,
# measured by counting points on a fine grid; its tip, at V = -1, is the farthest point.
_HEART_CENTROID = 0.29348
_HEART_RADIUS = 1.0 + _HEART_CENTROID
# Images drawn at once, to bound the memory of the per-pixel tests.
_CHUNK = 1024


@final
@dataclasses.dataclass(frozen=True, eq=False)
class Shapes:
    """Binary sprites and the factors that generated them.

    Attributes:
        images: float32 images of shape `(n, size, size, 1)` whose values are exactly
            0.0 or 1.0.
        factors: one array of length `n` per name in `factor_names`:

            - `shape` (int32): an index into `shape_names`;
            - `scale` (float32, in [0.5, 1.0]): the circumradius is `scale * size / 5`
              pixels;
            - `rotation` (float32, radians in [0, 2*pi)): counter-clockwise as the
              image is displayed (row 0 at the top);
            - `x`, `y` (float32): the shape's centre in pixel units, `x` along the
              columns (left to right) and `y` along the rows (top to bottom); the centre
              of pixel `(row i, column j)` is `(x=j, y=i)`. For every shape the centre is
              the centroid of its area.
        factor_names: `("shape", "scale", "rotation", "x", "y")`.
        shape_names: `("square", "ellipse", "heart")`.
        image_shape: `(size, size, 1)`.
    """

    images: Float32[np.ndarray, "n size size 1"]
    factors: dict[str, Float32[np.ndarray, " n"] | Int32[np.ndarray, " n"]]
    image_shape: tuple[int, int, int]
    factor_names: tuple[str, ...] = FACTOR_NAMES
    shape_names: tuple[str, ...] = SHAPE_NAMES


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int of at least 8; got {size!r}")
    return size


def position_range(size: int) -> tuple[float, float]:
    """The range from which `shapes` draws `x` and `y` for images of `size` pixels.

    Every shape at every scale and rotation keeps an empty pixel of margin inside the
    image when its centre is in this range.

    Example:
        >>> from elbox.data import position_range
        >>> position_range(32)
        (7.4, 23.6)
    """
    size = _check_size(size)
    low = _RADIUS_FRACTION * size * SCALE_RANGE[1] + _MARGIN
    return round(low, 6), round(size - 1 - low, 6)


def _inside(
    shape: Int32[np.ndarray, " n"],
    u: Float64[np.ndarray, "n size size"],
    v: Float64[np.ndarray, "n size size"],
) -> Bool[np.ndarray, "n size size"]:
    """Whether the points `(u, v)`, in circumradius units, lie inside each image's shape."""
    square = np.maximum(np.abs(u), np.abs(v)) <= 1.0 / math.sqrt(2.0)
    ellipse = u**2 + (v / _ELLIPSE_MINOR) ** 2 <= 1.0
    big_u, big_v = u * _HEART_RADIUS, v * _HEART_RADIUS + _HEART_CENTROID
    heart = (big_u**2 + big_v**2 - 1.0) ** 3 - big_u**2 * big_v**3 <= 0.0
    kind = shape[:, None, None]
    return np.where(kind == 0, square, np.where(kind == 1, ellipse, heart))


def draw_shapes(
    shape: Int32[np.ndarray, " n"],
    scale: Float32[np.ndarray, " n"],
    rotation: Float32[np.ndarray, " n"],
    x: Float32[np.ndarray, " n"],
    y: Float32[np.ndarray, " n"],
    *,
    size: int = 32,
) -> Float32[np.ndarray, "n {size} {size} 1"]:
    """Draw one sprite per set of factors; `shapes` draws its images with this.

    The factors mean what [`Shapes`][elbox.data.Shapes] says. Each pixel is tested at its
    centre, in the shape's rotated and scaled frame. Nothing checks that a shape fits in
    the image: centres in `position_range(size)` and scales up to 1 always do.

    Args:
        shape: int32 indices into `("square", "ellipse", "heart")`.
        scale: float32 scales; the circumradius is `scale * size / 5` pixels.
        rotation: float32 angles in radians, counter-clockwise as displayed.
        x: float32 column coordinates of the centres.
        y: float32 row coordinates of the centres.
        size: the images' height and width in pixels, at least 8.

    Returns:
        float32 images of shape `(n, size, size, 1)` with values 0.0 and 1.0.

    Example:
        >>> import numpy as np
        >>> from elbox.data import draw_shapes
        >>> f32 = lambda v: np.array([v], np.float32)
        >>> image = draw_shapes(np.array([0], np.int32), f32(1.0), f32(0.0), f32(5.0),
        ...                     f32(5.0), size=10)
        >>> image[0, :, :, 0].astype(int)
        array([[0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
               [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
               [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
               [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
               [0, 0, 0, 0, 1, 1, 1, 0, 0, 0],
               [0, 0, 0, 0, 1, 1, 1, 0, 0, 0],
               [0, 0, 0, 0, 1, 1, 1, 0, 0, 0],
               [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
               [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
               [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    """
    size = _check_size(size)
    given = {"shape": shape, "scale": scale, "rotation": rotation, "x": x, "y": y}
    lengths = {name: np.shape(value) for name, value in given.items()}
    if len(set(lengths.values())) != 1 or len(lengths["shape"]) != 1:
        listed = ", ".join(f"{name}: {length}" for name, length in lengths.items())
        raise ValueError(f"the factors must be 1-d arrays of one length; got shapes {listed}")
    if not np.isin(shape, range(len(SHAPE_NAMES))).all():
        raise ValueError(f"shape holds indices into {SHAPE_NAMES}: 0, 1 or 2; got {shape}")
    images = np.zeros((shape.shape[0], size, size, 1), np.float32)
    coords = np.arange(size, dtype=np.float64)
    for start in range(0, shape.shape[0], _CHUNK):
        part = slice(start, start + _CHUNK)
        radius = (scale[part].astype(np.float64) * _RADIUS_FRACTION * size)[:, None, None]
        angle = rotation[part].astype(np.float64)[:, None, None]
        dx = coords[None, None, :] - x[part].astype(np.float64)[:, None, None]
        # Image rows grow downwards; the shape's frame has v pointing up.
        dy_up = y[part].astype(np.float64)[:, None, None] - coords[None, :, None]
        cos, sin = np.cos(angle), np.sin(angle)
        u = (cos * dx + sin * dy_up) / radius
        v = (cos * dy_up - sin * dx) / radius
        nearest = (np.abs(dx) <= 0.5) & (np.abs(dy_up) <= 0.5)
        lit = _inside(shape[part], u, v) | nearest
        images[part, :, :, 0] = lit.astype(np.float32)
    return images


def shapes(n: int, *, size: int = 32, seed: int = 0) -> Shapes:
    """`n` binary sprites of squares, ellipses and hearts, with their factors.

    The factors are drawn independently and uniformly from `np.random.default_rng(seed)`,
    in this order: `shape` from {0, 1, 2}, `scale` from [0.5, 1.0), `rotation` from
    [0, 2*pi), then `x` and `y` from `position_range(size)`. They are stored as float32
    (shape as int32), and the images are drawn from the stored values, so
    `draw_shapes(**data.factors, size=size)` gives `data.images` back.

    The sizes are chosen so that a shape never leaves the image, and at least one empty
    pixel separates it from the border: at `size=32` a shape covers about 20 to 90 pixels,
    at `size=16` about 4 to 25.

    Args:
        n: the number of images, at least 1.
        size: the images' height and width in pixels, at least 8.
        seed: the seed of the factors (a non-negative int).

    Returns:
        A [`Shapes`][elbox.data.Shapes] with `images` of shape `(n, size, size, 1)` and the
        `factors` behind them.

    Raises:
        ValueError: for `n < 1`, `size < 8` or a negative `seed`.

    Example:
        >>> from elbox.data import shapes
        >>> data = shapes(4, size=16, seed=0)
        >>> data.images.shape, data.factor_names
        ((4, 16, 16, 1), ('shape', 'scale', 'rotation', 'x', 'y'))
        >>> sorted(set(data.images.ravel().tolist()))
        [0.0, 1.0]
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    size = _check_size(size)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    rng = np.random.default_rng(seed)
    low, high = position_range(size)
    factors = {
        "shape": rng.integers(0, len(SHAPE_NAMES), n).astype(np.int32),
        "scale": rng.uniform(*SCALE_RANGE, n).astype(np.float32),
        "rotation": rng.uniform(0.0, 2.0 * np.pi, n).astype(np.float32),
        "x": rng.uniform(low, high, n).astype(np.float32),
        "y": rng.uniform(low, high, n).astype(np.float32),
    }
    # float32 rounding can reach the interval's end: keep rotation in [0, 2*pi).
    factors["rotation"][factors["rotation"] >= np.float32(2.0 * np.pi)] = 0.0
    images = draw_shapes(**factors, size=size)
    return Shapes(images=images, factors=factors, image_shape=(size, size, 1))
