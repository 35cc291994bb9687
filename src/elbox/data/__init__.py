"""Data for VAEs: seeded mini-batch loaders, two small data sets that need no download, and
your own data from files.

- [`batches`][elbox.data.batches]: mini-batches of NumPy arrays whose order depends only on
  `(seed, epoch)`, so a resumed run sees the same batches.
- [`digits`][elbox.data.digits]: scikit-learn's bundled 8x8 handwritten digits in [0, 1].
- [`shapes`][elbox.data.shapes]: binary sprites (squares, ellipses, hearts) drawn with
  NumPy, with their generative factors, for disentanglement experiments;
  [`ShapesGrid`][elbox.data.ShapesGrid]: the same sprites on a discrete factor grid, drawn
  on demand, as ground truth for `elbox.metrics`' disentanglement scores;
  [`FactorSubset`][elbox.data.FactorSubset]: ground-truth data restricted to some of its
  factor codes (held-out sets, fewer factors).
- The standard data sets by name, read from their published files (downloaded into the
  data folder, [`data_folder`][elbox.data.data_folder], when missing, checked against
  their published checksums, and cached for reading by rows):
  [`mnist`][elbox.data.mnist], [`fashion_mnist`][elbox.data.fashion_mnist],
  [`binarized_mnist`][elbox.data.binarized_mnist], [`cifar10`][elbox.data.cifar10]
  ([`ImageDataset`][elbox.data.ImageDataset]) and [`dsprites`][elbox.data.dsprites]
  ([`DSprites`][elbox.data.DSprites], ground truth for the disentanglement scores).
- [`open_data`][elbox.data.open_data]: a `.npy` file (read lazily), a `.npz` file or a
  folder of PNG/JPEG images, checked before training; with
  [`split_indices`][elbox.data.split_indices] and
  [`indexed_batches`][elbox.data.indexed_batches] it trains with bounded memory.
"""

from ._batches import Batches as Batches
from ._batches import batches as batches
from ._data_file import DataFile as DataFile
from ._data_file import DataFormat as DataFormat
from ._data_file import Progress as Progress
from ._data_file import open_data as open_data
from ._digits import Digits as Digits
from ._digits import digits as digits
from ._errors import DataError as DataError
from ._factor_subset import FactorData as FactorData
from ._factor_subset import FactorSubset as FactorSubset
from ._image_folder import ImageMode as ImageMode
from ._indexed_batches import IndexedBatches as IndexedBatches
from ._indexed_batches import RowSource as RowSource
from ._indexed_batches import indexed_batches as indexed_batches
from ._shapes import FACTOR_NAMES as FACTOR_NAMES
from ._shapes import SHAPE_NAMES as SHAPE_NAMES
from ._shapes import Shapes as Shapes
from ._shapes import draw_shapes as draw_shapes
from ._shapes import position_range as position_range
from ._shapes import shapes as shapes
from ._shapes_grid import ShapesGrid as ShapesGrid
from ._split import DataSplit as DataSplit
from ._split import split_indices as split_indices
from ._standard import DSprites as DSprites
from ._standard import ImageDataset as ImageDataset
from ._standard import binarized_mnist as binarized_mnist
from ._standard import cifar10 as cifar10
from ._standard import data_folder as data_folder
from ._standard import dsprites as dsprites
from ._standard import fashion_mnist as fashion_mnist
from ._standard import mnist as mnist
