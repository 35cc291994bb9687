"""Your own data in Python: open_data's formats and checks, split_indices, indexed_batches."""

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from elbox.data import (
    DataError,
    DataSplit,
    batches,
    indexed_batches,
    open_data,
    split_indices,
)


def _save_png(path: Path, pixels: npt.NDArray[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


# -- formats ---------------------------------------------------------------------------------


def test_npy_is_read_by_rows_without_loading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = np.random.default_rng(0).normal(size=(40, 3, 5, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", values)
    row_bytes = 3 * 5 * 2 * 4
    header = (tmp_path / "x.npy").stat().st_size - values.nbytes
    # Every read of the file's data, as (offset in rows, rows): the file is memory-mapped
    # and read with positional reads only, so these are all the bytes that pass through.
    reads: list[tuple[float, float]] = []
    pread = os.pread

    def recorded(fd: int, size: int, offset: int) -> bytes:
        reads.append(((offset - header) / row_bytes, size / row_bytes))
        return pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", recorded)
    # The scan for NaN and the value range reads the file once, 16 rows at a time here.
    monkeypatch.setattr("elbox.data._data_file._SCAN_BYTES", 16 * row_bytes)
    data = open_data(tmp_path / "x.npy")
    assert reads == [(0, 16), (16, 16), (32, 8)]
    reads.clear()
    assert (data.format, data.num_examples, data.example_shape) == ("npy", 40, (3, 5, 2))
    assert data.image_shape == (3, 5, 2)
    assert data.value_range == (float(values.min()), float(values.max()))
    assert not data.in_unit_interval
    rows = np.array([39, 0, 7, 8, 9, 3])  # unsorted, with a run of consecutive rows
    np.testing.assert_array_equal(data.take(rows), values[rows])
    # Only the rows asked for were read: one read per run of consecutive rows.
    assert sorted(reads) == [(0, 1), (3, 1), (7, 3), (39, 1)]
    assert data.take(np.array([], np.int64)).shape == (0, 3, 5, 2)
    with pytest.raises(IndexError, match=r"rows must lie in \[0, 40\)"):
        data.take(np.array([40]))


def test_fortran_ordered_and_big_endian_npy(tmp_path: Path) -> None:
    values = np.arange(24, dtype=">f8").reshape(6, 4)
    np.save(tmp_path / "f.npy", np.asfortranarray(values))
    np.save(tmp_path / "b.npy", values)
    for name in ("f.npy", "b.npy"):
        data = open_data(tmp_path / name)
        np.testing.assert_array_equal(data.take(np.array([5, 1])), values[[5, 1]])
        assert data.take(np.array([0])).dtype == np.float32


@pytest.mark.parametrize(
    ("dtype", "high", "scale"), [(np.uint8, 255, 255), (np.uint16, 1000, 65535)]
)
def test_integer_images_are_scaled_by_their_dtypes_range(
    dtype: type[np.integer[Any]], high: int, scale: int, tmp_path: Path
) -> None:
    values = np.linspace(0, high, 30).astype(dtype).reshape(5, 6)
    np.save(tmp_path / "x.npy", values)
    data = open_data(tmp_path / "x.npy")
    assert data.value_range == (0.0, 1.0)
    assert data.scaled_from == (0.0, float(scale))
    assert data.in_unit_interval
    np.testing.assert_allclose(data.take(np.arange(5)), values / scale, rtol=1e-6)


def test_greyscale_arrays_gain_a_channel_axis_and_vectors_have_no_image_shape(
    tmp_path: Path,
) -> None:
    np.save(tmp_path / "grey.npy", np.zeros((4, 6, 8), np.uint8))
    np.save(tmp_path / "vectors.npy", np.zeros((4, 10), np.float32))
    assert open_data(tmp_path / "grey.npy").image_shape == (6, 8, 1)
    assert open_data(tmp_path / "grey.npy").take(np.array([0])).shape == (1, 6, 8, 1)
    vectors = open_data(tmp_path / "vectors.npy")
    assert (vectors.example_shape, vectors.image_shape) == ((10,), None)


def test_npz_by_key_or_its_only_array(tmp_path: Path) -> None:
    a = np.random.default_rng(1).uniform(size=(9, 4)).astype(np.float32)
    np.savez(tmp_path / "one.npz", images=a)
    np.savez(tmp_path / "two.npz", a=a, b=2 * a)
    one = open_data(tmp_path / "one.npz")
    assert (one.format, one.key) == ("npz", "images")
    np.testing.assert_array_equal(one.take(np.arange(9)), a)
    np.testing.assert_array_equal(
        open_data(tmp_path / "two.npz", key="b").take(np.arange(9)), 2 * a
    )


def test_image_folder_grey_rgb_and_resized(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (3, 6, 4), dtype=np.uint8)
    for index, pixels in enumerate(grey):
        _save_png(tmp_path / "grey" / f"{index}.png", pixels)
    (tmp_path / "grey" / ".DS_Store").write_text("hidden files are skipped")
    data = open_data(tmp_path / "grey")
    assert (data.format, data.num_examples, data.image_shape) == ("images", 3, (6, 4, 1))
    np.testing.assert_allclose(data.take(np.arange(3))[..., 0], grey / 255.0, rtol=1e-6)

    colour = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    _save_png(tmp_path / "mixed" / "a" / "colour.png", colour)
    _save_png(tmp_path / "mixed" / "b" / "grey.jpg", grey[0])
    with pytest.raises(DataError, match=r"a/colour\.png is 8-bit RGB and b/grey\.jpg is 8-bit L"):
        open_data(tmp_path / "mixed")  # a grey and a colour image: convert them, or no
    mixed = open_data(tmp_path / "mixed", image_mode="RGB")
    assert mixed.image_shape == (6, 4, 3)
    np.testing.assert_allclose(mixed.take(np.array([0]))[0], colour / 255.0, rtol=1e-6)

    _save_png(tmp_path / "sizes" / "a.png", grey[0])
    _save_png(tmp_path / "sizes" / "b.png", np.zeros((10, 12), np.uint8))
    resized = open_data(tmp_path / "sizes", image_size=(8, 8))
    assert resized.image_shape == (8, 8, 1)


# -- bad data: a DataError that says what is wrong -------------------------------------------


def test_bad_data_messages(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no such file or folder: .*missing\.npy"):
        open_data(tmp_path / "missing.npy")
    (tmp_path / "table.csv").write_text("1,2\n")
    with pytest.raises(DataError, match=r"is not a \.npy or \.npz file or a folder"):
        open_data(tmp_path / "table.csv")
    np.savez(tmp_path / "two.npz", a=np.zeros((3, 2)), b=np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"holds 2 arrays \('a', 'b'\)"):
        open_data(tmp_path / "two.npz")
    with pytest.raises(DataError, match=r"has no array 'c'; its arrays: 'a', 'b'"):
        open_data(tmp_path / "two.npz", key="c")

    values = np.ones((10, 3, 4), np.float32)
    values[4, 1, 2] = np.nan
    values[7, 0, 0] = -np.inf
    np.save(tmp_path / "nan.npy", values)
    with pytest.raises(
        DataError, match=r"holds 2 NaN or infinite values; the first at index \(4, 1, 2\)"
    ):
        open_data(tmp_path / "nan.npy")
    np.save(tmp_path / "text.npy", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(DataError, match=r"holds text \(dtype <U1\), not real numbers"):
        open_data(tmp_path / "text.npy")
    np.save(tmp_path / "objects.npy", np.array([[None, 1]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"holds Python objects \(dtype object\)"):
        open_data(tmp_path / "objects.npy")
    np.save(tmp_path / "complex.npy", np.zeros((3, 2), np.complex64))
    with pytest.raises(DataError, match="holds complex numbers"):
        open_data(tmp_path / "complex.npy")
    np.save(tmp_path / "flat.npy", np.zeros(5))
    with pytest.raises(DataError, match=r"has shape \(5,\); elbox needs examples"):
        open_data(tmp_path / "flat.npy")
    np.save(tmp_path / "wide.npy", np.full((3, 2), 70000, np.int64))
    with pytest.raises(DataError, match="holds int64 values from 70000 to 70000"):
        open_data(tmp_path / "wide.npy")


def test_bad_image_folders(tmp_path: Path) -> None:
    _save_png(tmp_path / "sizes" / "a.png", np.zeros((8, 8), np.uint8))
    _save_png(tmp_path / "sizes" / "b.png", np.zeros((10, 8), np.uint8))
    with pytest.raises(
        DataError, match=r"differ in size: a\.png is 8x8 and b\.png is 10x8 \(height x width\)"
    ):
        open_data(tmp_path / "sizes")
    _save_png(tmp_path / "other" / "a.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "other" / "notes.txt").write_text("not an image")
    (tmp_path / "other" / "labels.csv").write_text("0\n")
    with pytest.raises(DataError, match=r"not PNG or JPEG images: labels\.csv, notes\.txt"):
        open_data(tmp_path / "other")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"x\.png is not a readable PNG or JPEG image"):
        open_data(tmp_path / "broken")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no PNG or JPEG images"):
        open_data(tmp_path / "empty")


# -- splits and batches ----------------------------------------------------------------------


def test_split_is_fixed_disjoint_and_saved(tmp_path: Path) -> None:
    split = split_indices(101, (0.8, 0.1, 0.1), seed=0)
    assert (len(split.train), len(split.validation), len(split.test)) == (81, 10, 10)
    combined = np.concatenate([split.train, split.validation, split.test])
    np.testing.assert_array_equal(np.sort(combined), np.arange(101))
    again = split_indices(101, (0.8, 0.1, 0.1), seed=0)
    np.testing.assert_array_equal(again.test, split.test)
    split.save(tmp_path / "split.npz")
    loaded = DataSplit.load(tmp_path / "split.npz")
    np.testing.assert_array_equal(loaded.validation, split.validation)
    with pytest.raises(DataError, match="leaves 1 for validation, 1 for test"):
        split_indices(12)


@pytest.mark.usefixtures("without_hook_checks")
def test_bad_split_fractions() -> None:
    with pytest.raises(ValueError, match="three positive fractions"):
        split_indices(100, (0.8, 0.3, 0.1))


def test_indexed_batches_match_batches_and_split_over_processes(tmp_path: Path) -> None:
    values = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    np.save(tmp_path / "x.npy", values)
    data = open_data(tmp_path / "x.npy")
    loader = indexed_batches(data, np.arange(50), 8, seed=3)
    reference = batches(values, 8, seed=3)
    assert len(loader) == len(reference) == 6
    for epoch in (0, 4):
        for got, want in zip(loader.for_epoch(epoch), reference.for_epoch(epoch), strict=True):
            np.testing.assert_array_equal(got, want)
    # Two processes: each reads its half of every global batch, in process order.
    halves = [
        list(indexed_batches(data, np.arange(50), 8, seed=3, process_count=2, process_index=i))
        for i in range(2)
    ]
    for first, second, whole in zip(*halves, reference.for_epoch(0), strict=True):
        np.testing.assert_array_equal(np.concatenate([first, second]), whole)
    # A subset of the rows: only those indices are visited.
    subset = np.array([1, 5, 9, 13])
    seen = np.concatenate(list(indexed_batches(values, subset, 2, seed=0)))
    np.testing.assert_array_equal(np.sort(seen[:, 0]), values[subset, 0])


@pytest.mark.usefixtures("without_hook_checks")
def test_indexed_batches_refuse_uneven_shares() -> None:
    with pytest.raises(ValueError, match="does not split evenly over 2 processes"):
        indexed_batches(np.zeros((10, 2)), np.arange(10), 5, process_count=2)
    with pytest.raises(ValueError, match="larger than the 4 examples"):
        indexed_batches(np.zeros((10, 2)), np.arange(4), 5)
