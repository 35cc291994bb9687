"""The standard data sets: published files, checked, downloaded and cached."""

from ._data_folder import data_folder as data_folder
from ._dsprites import DSprites as DSprites
from ._dsprites import dsprites as dsprites
from ._image_dataset import ImageDataset as ImageDataset
from ._image_dataset import binarized_mnist as binarized_mnist
from ._image_dataset import cifar10 as cifar10
from ._image_dataset import fashion_mnist as fashion_mnist
from ._image_dataset import mnist as mnist
