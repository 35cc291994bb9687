"""`open_data` refuses, with one message naming the file, the arguments and files it cannot
read exactly; the values it can read are scaled by the stated rules."""

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from elbox.data import DataError, open_data

MODE = "image_mode must be one of "
SIZE = "image_size must be (height, width), two positive ints; got "
RANGE = "value_range must be (low, high), two finite numbers low < high; got "


@pytest.mark.usefixtures("without_hook_checks")  # open_data's own messages, not the hook's
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"image_mode": "CMYK"},
            "image_mode must be one of ('L', 'LA', 'RGB', 'RGBA'); got 'CMYK'",
        ),
        ({"image_size": (8, 0)}, SIZE + "(8, 0)"),
        ({"image_size": (8,)}, SIZE + "(8,)"),
        ({"value_range": (1.0, 1.0)}, RANGE + "(1.0, 1.0)"),
        ({"value_range": (0.0, float("inf"))}, RANGE + "(0.0, inf)"),
        ({"value_range": (True, 2)}, RANGE + "(True, 2)"),
    ],
)
def test_bad_arguments_are_refused_before_any_file_is_read(
    arguments: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="must be") as raised:
        open_data(tmp_path / "missing.npy", **arguments)
    assert str(raised.value) == message


def test_folder_options_on_a_file_and_file_options_on_a_folder(tmp_path: Path) -> None:
    array = tmp_path / "x.npy"
    np.save(array, np.zeros((4, 3), np.float32))
    (tmp_path / "images").mkdir()
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"path": tmp_path / "images", "key": "x"},
            f"a data key ('x') names an array of a .npz file; {tmp_path / 'images'} is a folder",
        ),
        (
            {"path": array, "image_mode": "L"},
            f"an image mode converts the images of a folder; {array} is a file",
        ),
        (
            {"path": array, "image_size": (2, 2)},
            f"an image size resizes the images of a folder; {array} is a file",
        ),
        (
            {"path": array, "key": "x"},
            f"a data key ('x') names an array of a .npz file; {array} is a .npy file",
        ),
    ]
    for arguments, message in cases:
        with pytest.raises(DataError) as raised:
            open_data(**arguments)
        assert str(raised.value).startswith(message)


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.npy"
    damaged.write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(DataError, match=f"^{damaged} is not a readable .npy file: "):
        open_data(damaged)

    objects = tmp_path / "objects.npz"
    np.savez(objects, x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match=r"holds Python objects \(dtype object\)"):
        open_data(objects)

    not_zip = tmp_path / "not-zip.npz"
    not_zip.write_bytes(b"not a zip archive")
    with pytest.raises(DataError, match=f"^{not_zip} is not a readable .npz file: "):
        open_data(not_zip)

    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 3), np.float32))
    with pytest.raises(DataError, match=r"has shape \(0, 3\): it holds no values to train on"):
        open_data(empty)
    assert zipfile.is_zipfile(objects)


@pytest.mark.usefixtures("without_hook_checks")  # take's own check of its rows
def test_bool_data_is_read_as_0_and_1_and_a_float_range_is_checked(tmp_path: Path) -> None:
    flags = tmp_path / "flags.npy"
    np.save(flags, np.array([[True, False], [False, True]]))
    data = open_data(flags)
    assert data.value_range == (0.0, 1.0)
    np.testing.assert_array_equal(data.take(np.array([1, 0])), [[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="rows must be a 1-D array of integer indices"):
        data.take(np.array([0.5]))

    floats = tmp_path / "floats.npy"
    np.save(floats, np.array([[2.0, 4.0], [3.0, 6.0]], np.float32))
    scaled = open_data(floats, value_range=(2.0, 6.0))
    np.testing.assert_allclose(scaled.take(np.array([0, 1])), [[0.0, 0.5], [0.25, 1.0]])
    with pytest.raises(DataError, match="give a value range that holds them all"):
        open_data(floats, value_range=(2.0, 5.0))
