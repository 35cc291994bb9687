"""The standard data sets: each reader on small files in the published format, checksums,
truncated and missing files, the data folder, the cache, and downloads from a server on
127.0.0.1 (nothing else is ever connected to)."""

import gzip
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import elbox.data._standard._amat as amat_module
import elbox.data._standard._dsprites_npz as npz_module
import elbox.data._standard._idx as idx_module
from elbox.data import (
    DataError,
    DSprites,
    ShapesGrid,
    binarized_mnist,
    cifar10,
    data_folder,
    dsprites,
    fashion_mnist,
    indexed_batches,
    mnist,
)
from elbox.data._standard._published_file import PublishedFile
from elbox.data._standard._registry import published_files
from elbox.metrics import GroundTruthData, factor_vae_score, mig

from .standard_files import (
    CLOSED_URL,
    DSPRITES_SIZES,
    FileServer,
    cifar_fixture,
    cifar_records,
    dsprites_arrays,
    mnist_files,
    register,
    serving,
    write_amat,
    write_cifar,
    write_dsprites,
    write_idx,
)


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither the user's data folder nor their download setting reaches a test."""
    monkeypatch.delenv("ELBOX_DATA", raising=False)
    monkeypatch.delenv("ELBOX_NO_DOWNLOAD", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every attempt to open a network connection fails the test (and is recorded)."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        self.close()
        raise AssertionError(f"a connection to {address} was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    with serving() as server:
        yield server


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# -- the registry --------------------------------------------------------------------------


def test_every_published_file_has_a_strong_checksum_and_an_https_or_canonical_url() -> None:
    for name in ("mnist", "fashion_mnist", "binarized_mnist", "cifar10", "dsprites"):
        for published in published_files(name).values():
            assert published.urls
            assert published.urls[0].endswith("/" + published.name)
            checksums = published.checksums
            assert "sha256" in checksums or {"git-blob-sha1", "md5"} <= set(checksums)
            for digest in checksums.values():
                assert len(digest) in (32, 40, 64)
                assert int(digest, 16) >= 0
    assert published_files("cifar10")["archive"].size == 170_052_171
    with pytest.raises(DataError, match="no standard data set 'svhn'; the data sets are mnist"):
        published_files("svhn")


def test_git_blob_sha1_is_what_git_names_the_file(tmp_path: Path) -> None:
    from elbox.data._standard._published_file import digests

    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")
    # `printf 'hello\n' | git hash-object --stdin`
    expected = "ce013625030ba8dba906f756967f9e9ca394464a"
    found = digests(path, ("git-blob-sha1", "md5", "sha256"))
    assert found["git-blob-sha1"] == expected
    assert found["md5"] == hashlib.md5(b"hello\n").hexdigest()
    assert found["sha256"] == hashlib.sha256(b"hello\n").hexdigest()


# -- the data folder -----------------------------------------------------------------------


def test_data_folder_comes_from_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert data_folder() == tmp_path / "xdg-cache" / "elbox"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_folder() == Path.home() / ".cache" / "elbox"
    monkeypatch.setenv("ELBOX_DATA", str(tmp_path / "env"))
    assert data_folder() == tmp_path / "env"
    assert data_folder(tmp_path / "given") == tmp_path / "given"


def test_a_data_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match=r"the data folder .*file is a file"):
        mnist(tmp_path / "file")


# -- MNIST and Fashion-MNIST: IDX ----------------------------------------------------------


@pytest.mark.parametrize("loader", [mnist, fashion_mnist], ids=["mnist", "fashion_mnist"])
def test_idx_files_are_read_and_cached(
    loader: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = loader.__name__
    paths, arrays = mnist_files(tmp_path / name)
    register(monkeypatch, name, paths)
    monkeypatch.setattr(idx_module, "_CHUNK_BYTES", 3 * 28 * 28)  # several chunks
    data = loader(tmp_path)
    assert "converting" in capsys.readouterr().err
    assert data.name == name
    assert data.folder == tmp_path / name
    assert data.image_shape == (28, 28, 1)
    assert data.validation is None
    assert (data.train.num_examples, data.test.num_examples) == (7, 3)
    rows = np.array([6, 0, 3])
    expected = arrays["train_images"][rows][..., None] / np.float32(255)
    np.testing.assert_allclose(data.train.take(rows), expected, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(
        np.rint(data.test.take(np.arange(3))[..., 0] * 255), arrays["test_images"]
    )
    np.testing.assert_array_equal(data.train_labels, arrays["train_labels"])
    assert data.test_labels is not None
    assert data.test_labels.dtype == np.int32
    assert len(data.class_names) == 10
    # Once cached, the published files are no longer needed, and nothing is converted.
    for path in paths.values():
        path.unlink()
    again = loader(tmp_path, download=False)
    assert "converting" not in capsys.readouterr().err
    np.testing.assert_array_equal(again.train.take(rows), data.train.take(rows))


def test_idx_header_and_length_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    paths, arrays = mnist_files(tmp_path / "mnist")

    def fails_with(message: str) -> None:
        register(monkeypatch, "mnist", paths)
        with pytest.raises(DataError, match=message):
            mnist(tmp_path)

    images = paths["train_images"]
    write_idx(images, arrays["train_images"].reshape(7, 784))  # 2 dimensions
    fails_with(r"is not an IDX file of 3 dimensions: its magic number is 00000802")
    with gzip.open(images, "wb") as stream:
        stream.write(bytes([0, 0, 0x0D, 3]) + b"\0\0\0\1" * 3 + b"\0\0\0\0")  # float
    fails_with(r"holds IDX values of type 0x0d; MNIST's files hold unsigned bytes")
    payload = gzip.decompress(write_idx(images, arrays["train_images"]).read_bytes())
    images.write_bytes(gzip.compress(payload[:-5]))
    fails_with(r"ends early: its pixel data is cut short \(truncated\?\)")
    images.write_bytes(gzip.compress(payload + b"\0"))
    fails_with(r"holds more bytes than its IDX header says")
    images.write_bytes(gzip.compress(payload)[:-20])  # a cut gzip stream
    fails_with(r"is not a whole gzip-compressed IDX file")
    write_idx(images, arrays["train_images"])
    write_idx(paths["train_labels"], np.array([0, 1, 2, 3, 4, 5, 10], np.uint8))
    fails_with(r"holds the label 10; the data set has 10 classes, 0 to 9")
    write_idx(paths["train_labels"], np.arange(6, dtype=np.uint8))
    fails_with(r"holds 7 images but .*train-labels-idx1-ubyte.gz 6 labels")
    assert not list((tmp_path / "mnist").glob("cache-*/*.npy"))  # nothing half-written


# -- binarised MNIST: .amat ----------------------------------------------------------------


def _amat_images(count: int, seed: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    return np.random.default_rng(seed).integers(0, 2, (count, 784), dtype=np.uint8)


def _amat_files(folder: Path) -> tuple[dict[str, Path], dict[str, np.ndarray[Any, Any]]]:
    images = {
        "train": _amat_images(9, 0),
        "validation": _amat_images(4, 1),
        "test": _amat_images(5, 2),
    }
    names = {"train": "train", "validation": "valid", "test": "test"}
    paths = {
        split: write_amat(folder / f"binarized_mnist_{names[split]}.amat", values)
        for split, values in images.items()
    }
    return paths, images


def test_amat_files_are_read_as_bits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    paths, images = _amat_files(tmp_path / "binarized_mnist")
    register(monkeypatch, "binarized_mnist", paths)
    monkeypatch.setattr(amat_module, "_LINES_PER_CHUNK", 4)  # several chunks
    data = binarized_mnist(tmp_path)
    assert data.validation is not None
    assert data.train_labels is None
    assert data.class_names == ()
    assert data.train.format == "bits"
    assert data.train.in_unit_interval
    for split, part in (
        ("train", data.train),
        ("validation", data.validation),
        ("test", data.test),
    ):
        read = part.take(np.arange(part.num_examples))
        assert read.shape == (len(images[split]), 28, 28, 1)
        assert read.dtype == np.float32
        np.testing.assert_array_equal(read.reshape(len(read), 784), images[split])
    # Packed 8 pixels a byte: 98 bytes an image.
    assert data.train.path.stat().st_size < 200 + 9 * 98


def test_amat_in_other_spacing_is_read_and_bad_lines_are_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paths, images = _amat_files(tmp_path / "binarized_mnist")
    lines = paths["test"].read_text().splitlines()
    lines[1] = "\t".join(lines[1].split()) + "  "
    paths["test"].write_text("\r\n".join(lines) + "\r\n\n")
    register(monkeypatch, "binarized_mnist", paths)
    data = binarized_mnist(tmp_path)
    np.testing.assert_array_equal(
        data.test.take(np.array([1]))[0, ..., 0].ravel(), images["test"][1]
    )

    cases = [
        (lines[0] + " 1", "line 3 of .*binarized_mnist_test.amat has 785 values"),
        (lines[0].replace("0", "2", 1), "line 3 of .* has the value b'2'"),
        (lines[0][:-2], "line 3 of .* has 783 values"),  # a truncated line
    ]
    for third, message in cases:
        paths["test"].write_text("\n".join([lines[0], lines[1], third]) + "\n")
        register(monkeypatch, "binarized_mnist", paths)
        with pytest.raises(DataError, match=message):
            binarized_mnist(tmp_path)


# -- CIFAR-10: binary batches in a tar.gz --------------------------------------------------


def test_cifar_batches_are_read_in_order_with_channels_last(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fixture = cifar_fixture(tmp_path / "cifar10" / "cifar-10-binary.tar.gz", per_batch=3)
    register(monkeypatch, "cifar10", {"archive": fixture.path})
    data = cifar10(tmp_path)
    assert data.image_shape == (32, 32, 3)
    assert data.class_names[-1] == "truck"
    assert (data.train.num_examples, data.test.num_examples) == (15, 3)
    np.testing.assert_array_equal(data.train_labels, fixture.train_labels)
    np.testing.assert_array_equal(data.test_labels, fixture.test_labels)
    read = np.rint(data.train.take(np.arange(15)) * 255).astype(np.uint8)
    np.testing.assert_array_equal(read, fixture.train_images)
    # A pixel by hand: record 0 of data_batch_2 is training image 3; its red value at
    # row 1, column 2 is byte 1 + 32 + 2 of the record.
    record = cifar_records(fixture.train_labels[3:4], fixture.train_images[3:4])
    assert read[3, 1, 2, 0] == record[1 + 32 + 2]
    assert read[3, 1, 2, 2] == record[1 + 2 * 1024 + 32 + 2]


def test_cifar_archives_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "cifar10" / "cifar-10-binary.tar.gz"
    record = cifar_records(np.array([3], np.uint8), np.zeros((1, 32, 32, 3), np.uint8))
    whole = {f"data_batch_{n}.bin": record for n in range(1, 6)} | {"test_batch.bin": record}

    def fails_with(message: str) -> None:
        register(monkeypatch, "cifar10", {"archive": path})
        with pytest.raises(DataError, match=message):
            cifar10(tmp_path)

    write_cifar(path, {k: v for k, v in whole.items() if k != "data_batch_4.bin"})
    fails_with(r"lacks cifar-10-batches-bin/data_batch_4.bin: it is not CIFAR-10's binary")
    write_cifar(path, whole | {"test_batch.bin": record[:-1]})
    fails_with(r"test_batch.bin in .* has 3072 bytes, not a whole number of 3073-byte records")
    bad_label = cifar_records(np.array([10], np.uint8), np.zeros((1, 32, 32, 3), np.uint8))
    write_cifar(path, whole | {"data_batch_2.bin": bad_label})
    fails_with(r"data_batch_2.bin in .* holds the label 10; CIFAR-10's are 0 to 9")
    write_cifar(path, whole)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # a cut archive
    fails_with(r"(is not a whole tar.gz archive|cannot be read|ends early)")
    assert not list((tmp_path / "cifar10").glob("cache-*/*.npy"))


# -- dSprites: .npz ------------------------------------------------------------------------


@pytest.fixture
def small_dsprites(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DSprites:
    path = write_dsprites(tmp_path / "dsprites" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    register(monkeypatch, "dsprites", {"archive": path})
    monkeypatch.setattr(npz_module, "_IMAGES_PER_READ", 50)  # several chunks
    return dsprites(tmp_path)


def test_dsprites_npz_is_read_without_its_pickle(small_dsprites: DSprites, tmp_path: Path) -> None:
    data = small_dsprites
    archive = tmp_path / "dsprites" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    with np.load(archive, allow_pickle=False) as npz, pytest.raises(ValueError, match="pickle"):
        npz["metadata"]  # the published file's pickled dict: never read
    arrays = dsprites_arrays()
    assert len(data) == 192
    assert data.factors_num_values == DSPRITES_SIZES[1:]
    assert data.factor_names == ("shape", "scale", "orientation", "x", "y")
    assert data.observation_shape == (64, 64, 1)
    assert data.images.format == "bits"
    rows = np.array([191, 0, 77, 78])
    np.testing.assert_array_equal(data.images.take(rows)[..., 0], arrays["imgs"][rows])
    codes = data.factors_of(rows)
    np.testing.assert_array_equal(codes, arrays["latents_classes"][rows, 1:])
    np.testing.assert_array_equal(data.index_of(codes), rows)
    np.testing.assert_array_equal(
        data.sample_observations_from_factors(codes)[..., 0], arrays["imgs"][rows]
    )
    values = data.factor_values(codes)
    np.testing.assert_array_equal(values["scale"], arrays["latents_values"][rows, 2])
    np.testing.assert_array_equal(values["x"], arrays["latents_values"][rows, 4])
    with pytest.raises(ValueError, match="factors\\[0, 3\\] = 4 is outside the grid: factor 'x'"):
        data.index_of(np.array([[0, 0, 0, 4, 0]]))


def test_dsprites_is_ground_truth_for_the_scores(small_dsprites: DSprites) -> None:
    data = small_dsprites
    assert isinstance(data, GroundTruthData)
    # The same draws as disentanglement_lib: each factor in turn from the random state.
    random = np.random.RandomState(3)
    codes = data.sample_factors(6, random)
    random = np.random.RandomState(3)
    expected = np.stack([random.randint(n, size=6) for n in data.factors_num_values], axis=1)
    np.testing.assert_array_equal(codes, expected)
    factors, images = data.sample(5, np.random.RandomState(0))
    np.testing.assert_array_equal(images, data.sample_observations_from_factors(factors))

    every = data.images.take(np.arange(len(data)))
    assert len({image.tobytes() for image in every}) == len(data)  # all differ
    row_of = {image.tobytes(): row for row, image in enumerate(every)}

    def represent(observations: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        # The codes themselves, recovered from the images: a perfect representation.
        rows = np.array([row_of[o.astype(np.float32).tobytes()] for o in observations])
        return data.factors_of(rows).astype(np.float64)

    score = factor_vae_score(
        represent, data, seed=0, num_train=20, num_eval=10, num_variance_estimate=50
    )
    assert score == 1.0
    latents = represent(images)
    assert 0.0 <= mig(latents, factors) <= 1.0


def test_dsprites_checks_its_arrays(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "dsprites" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"

    def fails_with(arrays: dict[str, Any], message: str) -> None:
        write_dsprites(path, arrays)
        register(monkeypatch, "dsprites", {"archive": path})
        with pytest.raises(DataError, match=message):
            dsprites(tmp_path)

    arrays = dsprites_arrays()
    fails_with(
        {k: v for k, v in arrays.items() if k != "latents_values"}, "has no array 'latents_values'"
    )
    shuffled = dict(arrays, latents_classes=arrays["latents_classes"][::-1].copy())
    fails_with(shuffled, "does not hold every combination of its factors' codes once, in order")
    fails_with(
        dict(arrays, imgs=arrays["imgs"][:-1]), r"'imgs'\] is uint8 of shape \(191, 64, 64\)"
    )
    fails_with(dict(arrays, imgs=arrays["imgs"] * 255), r"'imgs'\] holds the value 255")
    fails_with(dict(arrays, imgs=np.asfortranarray(arrays["imgs"])), "a Fortran-ordered array")
    two_colours = dsprites_arrays((2, 3, 1, 1, 2, 2))
    fails_with(two_colours, "has 2 colours; dSprites has one")
    assert not list((tmp_path / "dsprites").glob("cache-*/*.npy"))
    path.write_bytes(path.read_bytes()[:-100])  # a truncated archive
    register(monkeypatch, "dsprites", {"archive": path})
    with pytest.raises(DataError, match=r"is not a whole .npz \(zip\) archive"):
        dsprites(tmp_path)


# -- checksums, truncated and missing files ------------------------------------------------


def test_a_file_that_is_not_the_published_one_is_refused_and_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paths, arrays = mnist_files(tmp_path / "mnist")
    register(monkeypatch, "mnist", paths)
    labels = paths["test_labels"]
    whole = labels.read_bytes()
    write_idx(labels, (arrays["test_labels"] + 1) % 10)  # same size, other bytes
    with pytest.raises(DataError) as caught:
        mnist(tmp_path)
    message = str(caught.value)
    assert f"{labels} is not the published t10k-labels-idx1-ubyte.gz: its sha256 is" in message
    assert (
        "delete it so that elbox downloads it again, or replace it with the file from http://127.0.0.1:9/t10k-labels-idx1-ubyte.gz"
        in message
    )
    assert labels.exists()  # the user's file is theirs to delete
    labels.write_bytes(whole[:-3])
    with pytest.raises(
        DataError,
        match=rf"it has {len(whole) - 3} bytes, the published file {len(whole)} \(truncated\?\)",
    ):
        mnist(tmp_path)


def test_every_digest_must_match(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_dsprites(tmp_path / "dsprites" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    from elbox.data._standard import _registry
    from elbox.data._standard._published_file import digests

    found = digests(path, ("git-blob-sha1", "md5"))
    entry = PublishedFile(
        path.name,
        (CLOSED_URL + path.name,),
        None,
        {"git-blob-sha1": found["git-blob-sha1"], "md5": "0" * 32},
    )
    monkeypatch.setitem(_registry._FILES, "dsprites", {"archive": entry})
    with pytest.raises(DataError, match=r"its md5 is .*, the published file's 0000"):
        dsprites(tmp_path)
    entry = PublishedFile(path.name, entry.urls, None, found)
    monkeypatch.setitem(_registry._FILES, "dsprites", {"archive": entry})
    assert len(dsprites(tmp_path)) == 192


def test_a_missing_file_without_downloads_opens_no_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_connections: list[object]
) -> None:
    paths, _ = mnist_files(tmp_path / "made")
    register(monkeypatch, "mnist", paths)
    folder = tmp_path / "data"
    with pytest.raises(DataError) as caught:
        mnist(folder, download=False)
    assert str(caught.value) == (
        "train-images-idx3-ubyte.gz of mnist is missing and downloads are off (--no-download, "
        f"ELBOX_NO_DOWNLOAD or download=False): put the file in {folder}/mnist/; it is "
        "published at http://127.0.0.1:9/train-images-idx3-ubyte.gz"
    )
    monkeypatch.setenv("ELBOX_NO_DOWNLOAD", "1")
    with pytest.raises(DataError, match="downloads are off"):
        mnist(folder)
    monkeypatch.setenv("ELBOX_NO_DOWNLOAD", "0")  # 0 leaves them on: the connection is tried
    with pytest.raises(AssertionError, match="a connection to"):
        mnist(folder)
    assert len(no_connections) == 1
    assert _files(tmp_path / "data") == []


def test_without_a_network_one_line_says_where_to_put_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_dsprites(tmp_path / "made" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    register(monkeypatch, "dsprites", {"archive": path}, urls=(CLOSED_URL, "http://127.0.0.1:7/"))
    folder = tmp_path / "data"
    with pytest.raises(DataError) as caught:
        dsprites(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "cannot download dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz of dsprites "
        "(http://127.0.0.1:9/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz: "
    )
    assert message.endswith(
        f"put the file in {folder}/dsprites/ yourself; it is published at "
        "http://127.0.0.1:9/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz (or "
        "http://127.0.0.1:7/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz)"
    )
    assert "refused" in message.lower()
    assert _files(folder) == []


# -- downloads from 127.0.0.1 --------------------------------------------------------------


def test_a_download_is_verified_and_renamed(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    file_server: FileServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths, arrays = mnist_files(tmp_path / "published")
    file_server.files = {path.name: path.read_bytes() for path in paths.values()}
    # The first address answers 404: the next one is tried.
    register(monkeypatch, "mnist", paths, urls=(file_server.url + "gone/", file_server.url))
    data = mnist(tmp_path / "data")
    assert sorted(file_server.requests) == sorted(
        [f"gone/{p.name}" for p in paths.values()] + [p.name for p in paths.values()]
    )
    assert (
        f"elbox: downloading {file_server.url}train-images-idx3-ubyte.gz" in capsys.readouterr().err
    )
    for path in paths.values():
        assert (tmp_path / "data" / "mnist" / path.name).read_bytes() == path.read_bytes()
    np.testing.assert_array_equal(data.test_labels, arrays["test_labels"])
    leftovers = [name for name in _files(tmp_path / "data") if name.endswith(".part")]
    assert leftovers == []


@pytest.mark.parametrize("mode", ["cut", "other"])
def test_a_failed_download_leaves_nothing_and_a_rerun_verifies(
    mode: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, file_server: FileServer
) -> None:
    path = write_dsprites(tmp_path / "published" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    file_server.files = {path.name: path.read_bytes()}
    register(monkeypatch, "dsprites", {"archive": path}, urls=(file_server.url,))
    folder = tmp_path / "data"
    file_server.mode = mode
    reason = (
        "the transfer stopped after"
        if mode == "cut"
        else "the downloaded file is not the published one: its sha256"
    )
    with pytest.raises(
        DataError, match=f"cannot download .*{reason}.*put the file in {folder}/dsprites/"
    ):
        dsprites(folder)
    assert _files(folder) == []  # no partial download, no cache
    file_server.mode = "whole"
    data = dsprites(folder)
    assert len(data) == 192
    assert (folder / "dsprites" / path.name).read_bytes() == path.read_bytes()


def test_a_download_interrupted_by_the_user_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, file_server: FileServer
) -> None:
    path = write_dsprites(tmp_path / "published" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    file_server.files = {path.name: path.read_bytes()}
    register(monkeypatch, "dsprites", {"archive": path}, urls=(file_server.url,))
    import elbox.data._standard._download as download_module

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "mismatch", interrupted)  # after the transfer
    with pytest.raises(KeyboardInterrupt):
        dsprites(tmp_path / "data")
    assert _files(tmp_path / "data") == []


# -- the cache -----------------------------------------------------------------------------


def test_a_damaged_cache_is_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    paths, arrays = mnist_files(tmp_path / "mnist")
    register(monkeypatch, "mnist", paths)
    data = mnist(tmp_path)
    cache = data.train.path
    size = cache.stat().st_size
    with cache.open("r+b") as stream:
        stream.truncate(size - 10)
    again = mnist(tmp_path)
    assert again.train.path.stat().st_size == size
    np.testing.assert_array_equal(
        np.rint(again.train.take(np.arange(7))[..., 0] * 255), arrays["train_images"]
    )


def test_other_published_files_get_another_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paths, _ = mnist_files(tmp_path / "mnist", seed=0)
    register(monkeypatch, "mnist", paths)
    first = mnist(tmp_path).train.path.parent
    paths, arrays = mnist_files(tmp_path / "mnist", seed=1)
    register(monkeypatch, "mnist", paths)
    second = mnist(tmp_path)
    assert second.train.path.parent != first
    np.testing.assert_array_equal(second.train_labels, arrays["train_labels"])


def test_a_standard_set_trains_in_batches_read_from_disk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paths, arrays = mnist_files(tmp_path / "mnist")
    register(monkeypatch, "mnist", paths)
    data = mnist(tmp_path)
    loader = indexed_batches(data.train, np.arange(7), 3, shuffle=True, seed=2)
    batches = list(loader.for_epoch(0))
    order = loader.order(0)
    assert [batch.shape for batch in batches] == [(3, 28, 28, 1), (3, 28, 28, 1)]
    np.testing.assert_array_equal(
        np.rint(batches[1][..., 0] * 255), arrays["train_images"][order[3:6]]
    )
    assert os.path.getsize(data.train.path) > 7 * 784  # on disk, read by rows
    assert isinstance(ShapesGrid(), GroundTruthData)
