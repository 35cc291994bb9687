"""The published files of the standard data sets: addresses, sizes and checksums, with the
source each number was taken from.

`published_files(name)` is the only reader of this table. The tests replace one entry (with
`pytest.MonkeyPatch.setitem(_FILES, name, ...)`) to describe small files they write in the
published formats; the check of a file against its entry is the same code either way.
"""

from collections.abc import Mapping
from typing import Final

from .._errors import DataError
from ._published_file import PublishedFile

# MNIST. The canonical address is Yann LeCun's page, which often refuses downloads now (HTTP
# 403); torchvision (torchvision/datasets/mnist.py, `MNIST.mirrors`) falls back to PyTorch's
# mirror on S3, and TensorFlow Datasets downloads from Google's CVDF mirror. The sizes and
# SHA-256 digests are TensorFlow Datasets' (tensorflow_datasets/url_checksums/mnist.txt);
# torchvision's MD5s (`MNIST.resources`) name the same files.
_MNIST_URLS: Final = (
    "http://yann.lecun.com/exdb/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def _mnist_file(name: str, size: int, sha256: str) -> PublishedFile:
    return PublishedFile(name, tuple(url + name for url in _MNIST_URLS), size, {"sha256": sha256})


_MNIST: Final = {
    "train_images": _mnist_file(
        "train-images-idx3-ubyte.gz",
        9_912_422,
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    "train_labels": _mnist_file(
        "train-labels-idx1-ubyte.gz",
        28_881,
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    "test_images": _mnist_file(
        "t10k-images-idx3-ubyte.gz",
        1_648_877,
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    "test_labels": _mnist_file(
        "t10k-labels-idx1-ubyte.gz",
        4_542,
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
}

# Fashion-MNIST: the address of Zalando Research's README (github.com/zalandoresearch/
# fashion-mnist), which torchvision uses too (`FashionMNIST.mirrors`). Sizes and SHA-256:
# tensorflow_datasets/url_checksums/fashion_mnist.txt.
_FASHION_URL: Final = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


def _fashion_file(name: str, size: int, sha256: str) -> PublishedFile:
    return PublishedFile(name, (_FASHION_URL + name,), size, {"sha256": sha256})


_FASHION_MNIST: Final = {
    "train_images": _fashion_file(
        "train-images-idx3-ubyte.gz",
        26_421_880,
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    ),
    "train_labels": _fashion_file(
        "train-labels-idx1-ubyte.gz",
        29_515,
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    ),
    "test_images": _fashion_file(
        "t10k-images-idx3-ubyte.gz",
        4_422_102,
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    ),
    "test_labels": _fashion_file(
        "t10k-labels-idx1-ubyte.gz",
        5_148,
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ),
}

# Binarised MNIST (Larochelle & Murray 2011): Hugo Larochelle's files, as TensorFlow Datasets
# downloads them; sizes and SHA-256 from tensorflow_datasets/url_checksums/binarized_mnist.txt.
_AMAT_URL: Final = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"


def _amat_file(name: str, size: int, sha256: str) -> PublishedFile:
    return PublishedFile(name, (_AMAT_URL + name,), size, {"sha256": sha256})


_BINARIZED_MNIST: Final = {
    "train": _amat_file(
        "binarized_mnist_train.amat",
        78_400_000,
        "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
    ),
    "validation": _amat_file(
        "binarized_mnist_valid.amat",
        15_680_000,
        "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
    ),
    "test": _amat_file(
        "binarized_mnist_test.amat",
        15_680_000,
        "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
    ),
}

# CIFAR-10's binary version, from Alex Krizhevsky's page (www.cs.toronto.edu/~kriz/cifar.html);
# size and SHA-256 from tensorflow_datasets/url_checksums/cifar10.txt (TensorFlow Datasets
# reads this same binary archive).
_CIFAR10: Final = {
    "archive": PublishedFile(
        "cifar-10-binary.tar.gz",
        ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
        170_052_171,
        {"sha256": "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"},
    )
}

# dSprites, from DeepMind's repository (the address disentanglement_lib's
# bin/dlib_download_data downloads). No SHA-256 of the .npz is published anywhere we could
# find (TensorFlow Datasets reads the .hdf5 version instead), so the file is checked against
# two digests that are: the git blob id under which github.com/deepmind/dsprites-dataset
# stores it (commit fa310c6, `git ls-tree`), and the MD5 that torchvision-style loaders
# publish for it (e.g. the `md5` of several dSprites loaders built on torchvision's
# `download_url`). A file has to match both.
_DSPRITES_NAME: Final = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
_DSPRITES: Final = {
    "archive": PublishedFile(
        _DSPRITES_NAME,
        (
            "https://github.com/deepmind/dsprites-dataset/raw/master/" + _DSPRITES_NAME,
            "https://raw.githubusercontent.com/deepmind/dsprites-dataset/master/" + _DSPRITES_NAME,
        ),
        None,
        {
            "git-blob-sha1": "d98996d3f8ee1550e06b9d4ed78d0beb478910d5",
            "md5": "7da33b31b13a06f4b04a70402ce90c2e",
        },
    )
}

_FILES: dict[str, Mapping[str, PublishedFile]] = {
    "mnist": _MNIST,
    "fashion_mnist": _FASHION_MNIST,
    "binarized_mnist": _BINARIZED_MNIST,
    "cifar10": _CIFAR10,
    "dsprites": _DSPRITES,
}


def published_files(name: str) -> Mapping[str, PublishedFile]:
    """The published files of data set `name`, by their role (e.g. `train_images`)."""
    files = _FILES.get(name)
    if files is None:
        raise DataError(f"no standard data set {name!r}; the data sets are {', '.join(_FILES)}")
    return files
