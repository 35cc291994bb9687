"""Data for VAEs: a seeded mini-batch loader and two small data sets that need no download.

- [`batches`][elbox.data.batches]: mini-batches of NumPy arrays whose order depends only on
  `(seed, epoch)`, so a resumed run sees the same batches.
- [`digits`][elbox.data.digits]: scikit-learn's bundled 8x8 handwritten digits in [0, 1].
- [`shapes`][elbox.data.shapes]: binary sprites (squares, ellipses, hearts) drawn with
  NumPy, with their generative factors, for disentanglement experiments;
  [`ShapesGrid`][elbox.data.ShapesGrid]: the same sprites on a discrete factor grid, drawn
  on demand, as ground truth for `elbox.metrics`' disentanglement scores.
"""

from ._batches import Batches as Batches
from ._batches import batches as batches
from ._digits import Digits as Digits
from ._digits import digits as digits
from ._shapes import FACTOR_NAMES as FACTOR_NAMES
from ._shapes import SHAPE_NAMES as SHAPE_NAMES
from ._shapes import Shapes as Shapes
from ._shapes import draw_shapes as draw_shapes
from ._shapes import position_range as position_range
from ._shapes import shapes as shapes
from ._shapes_grid import ShapesGrid as ShapesGrid
