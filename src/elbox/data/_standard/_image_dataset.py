"""The standard image data sets: MNIST, Fashion-MNIST, binarised MNIST and CIFAR-10."""

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final, final

import numpy as np
from jaxtyping import Int32

from .._data_file import DataFile
from .._errors import DataError
from ._amat import IMAGE_SHAPE as AMAT_IMAGE_SHAPE
from ._amat import write_amat
from ._cache import Encoding, images_file, labels_file, load_array, open_images, save_array
from ._cifar import CLASS_NAMES as CIFAR10_CLASSES
from ._cifar import write_cifar10
from ._idx import read_idx_labels, write_idx_images
from ._prepare import prepared

MNIST_CLASSES: Final = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES: Final = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@final
@dataclasses.dataclass(frozen=True, eq=False)
class ImageDataset:
    """A standard image data set in its published splits, read from elbox's cache.

    Each split is a [`DataFile`][elbox.data.DataFile]: `take(rows)` reads the images at
    `rows` from disk as float32 in [0, 1], `(rows, height, width, channels)`, so a data set
    never has to fit in memory; with [`indexed_batches`][elbox.data.indexed_batches] it
    gives seeded mini-batches.

    Attributes:
        name: the data set's name, e.g. `"mnist"`.
        train: the training images.
        test: the test images.
        validation: the published validation images (binarised MNIST), or None.
        train_labels: the class of each training image (int32), or None where the data
            set has no labels (binarised MNIST).
        test_labels: the class of each test image, or None.
        class_names: the name of each class, by label (empty without labels).
        folder: where the published files and the cache are, in the data folder.
    """

    name: str
    train: DataFile
    test: DataFile
    validation: DataFile | None
    train_labels: Int32[np.ndarray, " num_train"] | None
    test_labels: Int32[np.ndarray, " num_test"] | None
    class_names: tuple[str, ...]
    folder: Path

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """`(height, width, channels)` of every image."""
        shape = self.train.image_shape
        assert shape is not None  # the caches hold images
        return shape


def _labels(cache: Path, split: str, images: DataFile) -> Int32[np.ndarray, " n"]:
    labels = load_array(labels_file(cache, split)).astype(np.int32)
    if labels.shape != (images.num_examples,):
        raise DataError(
            f"{split} of {images.path.parent}: {images.num_examples} images but "
            f"{labels.size} labels; the published files do not belong together"
        )
    return labels


def _open(
    name: str,
    cache: Path,
    folder: Path,
    encoding: Encoding,
    image_shape: tuple[int, int, int] | None,
    class_names: tuple[str, ...],
    splits: tuple[str, ...] = ("train", "test"),
) -> ImageDataset:
    opened: dict[str, DataFile] = {}
    for split in splits:
        opened[split] = open_images(images_file(cache, split), encoding, image_shape)
    labelled = bool(class_names)
    return ImageDataset(
        name=name,
        train=opened["train"],
        test=opened["test"],
        validation=opened.get("validation"),
        train_labels=_labels(cache, "train", opened["train"]) if labelled else None,
        test_labels=_labels(cache, "test", opened["test"]) if labelled else None,
        class_names=class_names,
        folder=folder,
    )


def _idx_dataset(
    name: str,
    class_names: tuple[str, ...],
    data_dir: str | os.PathLike[str] | None,
    download: bool | None,
) -> ImageDataset:
    def build(sources: Mapping[str, Path], cache: Path) -> None:
        for split in ("train", "test"):
            labels_path = sources[f"{split}_labels"]
            labels = read_idx_labels(labels_path, len(class_names))
            write_idx_images(
                sources[f"{split}_images"],
                images_file(cache, split),
                labels=labels_path,
                num_labels=len(labels),
            )
            save_array(labels_file(cache, split), labels)

    def open_cache(cache: Path, folder: Path) -> ImageDataset:
        return _open(name, cache, folder, "bytes", None, class_names)

    outputs = [
        path.name
        for split in ("train", "test")
        for path in (images_file(Path(), split), labels_file(Path(), split))
    ]
    return prepared(name, data_dir, download, outputs=outputs, build=build, open_cache=open_cache)


def mnist(
    data_dir: str | os.PathLike[str] | None = None, *, download: bool | None = None
) -> ImageDataset:
    """MNIST: 60,000 training and 10,000 test images of handwritten digits, 28 x 28 grey.

    Read from the four gzip-compressed IDX files of yann.lecun.com/exdb/mnist/ (downloaded
    from there or from a mirror when missing), each checked against its published SHA-256,
    and converted once into elbox's cache in the data folder.

    Args:
        data_dir: the data folder (default: `ELBOX_DATA`, else `~/.cache/elbox`; see
            [`data_folder`][elbox.data.data_folder]); the files are in its `mnist/`.
        download: whether a missing file may be downloaded (default: yes, unless the
            environment variable `ELBOX_NO_DOWNLOAD` is set).

    Returns:
        An [`ImageDataset`][elbox.data.ImageDataset]: `train` and `test` (uint8 on disk,
        float32 in [0, 1] when read), their labels 0 to 9.

    Raises:
        DataError: when a file is missing and cannot be downloaded (the message says
            which file to put where, and where it is published), or a file there is not
            the published one.

    Example:
        Where the files go, when they cannot be downloaded:

        >>> import tempfile
        >>> from elbox.data import DataError, mnist
        >>> try:
        ...     mnist(tempfile.mkdtemp(), download=False)
        ... except DataError as error:
        ...     print(error)
        train-images-idx3-ubyte.gz of mnist is missing and downloads are off (...):
        put the file in .../mnist/; it is published at
        http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz (or ...)
    """
    return _idx_dataset("mnist", MNIST_CLASSES, data_dir, download)


def fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None, *, download: bool | None = None
) -> ImageDataset:
    """Fashion-MNIST: 60,000 training and 10,000 test images of clothes, 28 x 28 grey.

    Zalando Research's drop-in replacement for MNIST (github.com/zalandoresearch/
    fashion-mnist), in the same IDX files, read as [`mnist`][elbox.data.mnist] reads them;
    kept in the data folder's `fashion_mnist/`. `class_names` are its ten classes
    (`"T-shirt/top"` to `"Ankle boot"`).

    Args:
        data_dir: the data folder (see [`data_folder`][elbox.data.data_folder]).
        download: whether a missing file may be downloaded (default: unless
            `ELBOX_NO_DOWNLOAD` is set).

    Returns:
        An [`ImageDataset`][elbox.data.ImageDataset] with labels 0 to 9.

    Raises:
        DataError: as [`mnist`][elbox.data.mnist].
    """
    return _idx_dataset("fashion_mnist", FASHION_MNIST_CLASSES, data_dir, download)


def binarized_mnist(
    data_dir: str | os.PathLike[str] | None = None, *, download: bool | None = None
) -> ImageDataset:
    """Binarised MNIST: the fixed binarisation of Larochelle & Murray (2011).

    The standard split of 50,000 training, 10,000 validation and 10,000 test images,
    28 x 28, each pixel 0 or 1, read from the three `.amat` text files of Hugo Larochelle
    (`binarized_mnist_{train,valid,test}.amat`), each checked against its published
    SHA-256, and cached as packed bits (8 pixels a byte) in the data folder's
    `binarized_mnist/`. It has no labels. The likelihoods that VAE papers report on
    "binarised MNIST" (for instance the IWAE paper's) are on this test set.

    Args:
        data_dir: the data folder (see [`data_folder`][elbox.data.data_folder]).
        download: whether a missing file may be downloaded (default: unless
            `ELBOX_NO_DOWNLOAD` is set).

    Returns:
        An [`ImageDataset`][elbox.data.ImageDataset] with `train`, `validation` and
        `test` (0.0 and 1.0 when read), and no labels.

    Raises:
        DataError: as [`mnist`][elbox.data.mnist], or for a line that is not 784 values
            of 0 or 1.
    """

    def build(sources: Mapping[str, Path], cache: Path) -> None:
        for split in ("train", "validation", "test"):
            write_amat(sources[split], images_file(cache, split))

    def open_cache(cache: Path, folder: Path) -> ImageDataset:
        splits = ("train", "validation", "test")
        return _open("binarized_mnist", cache, folder, "bits", AMAT_IMAGE_SHAPE, (), splits)

    outputs = [images_file(Path(), split).name for split in ("train", "validation", "test")]
    return prepared(
        "binarized_mnist", data_dir, download, outputs=outputs, build=build, open_cache=open_cache
    )


def cifar10(
    data_dir: str | os.PathLike[str] | None = None, *, download: bool | None = None
) -> ImageDataset:
    """CIFAR-10: 50,000 training and 10,000 test colour images, 32 x 32, of ten classes.

    Read from the binary version, `cifar-10-binary.tar.gz` (www.cs.toronto.edu/~kriz/
    cifar.html), checked against its published SHA-256; its five training batches (in
    order) and its test batch are converted, without extracting the archive, into elbox's
    cache in the data folder's `cifar10/`. `class_names` are `"airplane"` to `"truck"`.

    Args:
        data_dir: the data folder (see [`data_folder`][elbox.data.data_folder]).
        download: whether a missing file may be downloaded (default: unless
            `ELBOX_NO_DOWNLOAD` is set).

    Returns:
        An [`ImageDataset`][elbox.data.ImageDataset]: `train` and `test` read as float32
        `(rows, 32, 32, 3)` in [0, 1], with labels 0 to 9.

    Raises:
        DataError: as [`mnist`][elbox.data.mnist], or for an archive without CIFAR-10's
            batch files.
    """

    def build(sources: Mapping[str, Path], cache: Path) -> None:
        write_cifar10(sources["archive"], cache)

    def open_cache(cache: Path, folder: Path) -> ImageDataset:
        return _open("cifar10", cache, folder, "bytes", (32, 32, 3), CIFAR10_CLASSES)

    outputs = [
        path.name
        for split in ("train", "test")
        for path in (images_file(Path(), split), labels_file(Path(), split))
    ]
    return prepared(
        "cifar10", data_dir, download, outputs=outputs, build=build, open_cache=open_cache
    )
