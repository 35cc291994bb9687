"""Data read exactly, or refused with one line: image folders of every PNG and JPEG mode and
bit depth Pillow reads, with their exact pixel values; integer arrays scaled by a stated
rule (`value_range`), recorded in config.json."""

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from elbox.cli import main
from elbox.cli._config_file import read_config_file
from elbox.cli._options import TrainOptions, check_options
from elbox.data import DataError, open_data
from elbox.data._image_folder import read_image_folder

RNG = np.random.default_rng(0)
GREY8 = RNG.integers(0, 256, (4, 6)).astype(np.uint8)
GREY16 = RNG.integers(0, 65536, (4, 6)).astype(np.uint16)
RGB8 = RNG.integers(0, 256, (4, 6, 3)).astype(np.uint8)
ALPHA8 = RNG.integers(0, 256, (4, 6)).astype(np.uint8)


def _png(path: Path, values: npt.NDArray[Any], colour_type: int) -> Path:
    """A PNG written by hand (Pillow cannot write 16-bit colour): 8 or 16 bits per channel,
    each row with filter 0."""
    bits = 16 if values.dtype == np.uint16 else 8
    height, width = values.shape[:2]
    rows = values.astype(">u2" if bits == 16 else np.uint8).reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return path


def _folder(tmp_path: Path, name: str, images: dict[str, Any]) -> Path:
    """A folder of images: file name -> a Pillow image, or a function writing the file."""
    folder = tmp_path / name
    folder.mkdir()
    for file, image in images.items():
        if callable(image):
            image(folder / file)
        else:
            image.save(folder / file)
    return folder


def _palette(transparent: bool) -> Image.Image:
    indices = (GREY8 % 3).astype(np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([10, 20, 30, 40, 50, 60, 70, 80, 90])
    if transparent:
        image.info["transparency"] = 1
    return image


PALETTE = np.array([[10, 20, 30], [40, 50, 60], [70, 80, 90]], np.uint8)


def _cases() -> list[tuple[str, Any, npt.NDArray[Any], float]]:
    """(name, how to write it, the exact values it must read as, the maximum it scales by)."""
    two_bit = (GREY8 // 64).astype(np.uint8)
    four_bit = (GREY8 // 16).astype(np.uint8)
    one_bit = GREY8 > 127
    palette = PALETTE[GREY8 % 3]
    alpha = np.where(GREY8 % 3 == 1, 0, 255).astype(np.uint8)
    return [
        ("1-bit", Image.fromarray(one_bit), (one_bit * 255).astype(np.uint8)[..., None], 255),
        (
            "2-bit",
            lambda path: Image.fromarray(two_bit * 85).save(path, bits=2),
            (two_bit * 85)[..., None],
            255,
        ),
        (
            "4-bit",
            lambda path: Image.fromarray(four_bit * 17).save(path, bits=4),
            (four_bit * 17)[..., None],
            255,
        ),
        ("8-bit L", Image.fromarray(GREY8), GREY8[..., None], 255),
        ("16-bit L", Image.fromarray(GREY16), GREY16[..., None], 65535),
        ("LA", Image.fromarray(np.stack([GREY8, ALPHA8], -1)), np.stack([GREY8, ALPHA8], -1), 255),
        ("RGB", Image.fromarray(RGB8), RGB8, 255),
        (
            "RGBA",
            Image.fromarray(np.concatenate([RGB8, ALPHA8[..., None]], -1)),
            np.concatenate([RGB8, ALPHA8[..., None]], -1),
            255,
        ),
        ("palette", _palette(False), palette, 255),
        (
            "palette with transparency",
            lambda path: _palette(True).save(path, transparency=1),
            np.concatenate([palette, alpha[..., None]], -1),
            255,
        ),
        (
            "L with a transparent grey",
            lambda path: Image.fromarray(GREY8).save(path, transparency=int(GREY8[0, 0])),
            np.stack([GREY8, np.where(GREY8[0, 0] == GREY8, 0, 255).astype(np.uint8)], -1),
            255,
        ),
    ]


@pytest.mark.parametrize(("name", "writer", "expected", "maximum"), _cases())
def test_every_png_mode_and_depth_reads_exactly(
    name: str, writer: Any, expected: npt.NDArray[Any], maximum: float, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, "images", {"a.png": writer, "b.png": writer})
    stored = read_image_folder(folder)
    assert stored.dtype == (np.uint16 if maximum == 65535 else np.uint8)
    np.testing.assert_array_equal(stored[0], expected)
    data = open_data(folder)
    assert data.scaled_from == (0.0, maximum)
    values = data.take(np.array([1]))[0]
    np.testing.assert_allclose(values, expected / maximum, rtol=1e-7, atol=0)
    assert data.image_shape == expected.shape


def test_jpegs_read_as_pillow_decodes_them(tmp_path: Path) -> None:
    for mode, values in (("L", GREY8), ("RGB", RGB8)):
        folder = _folder(tmp_path, mode, {"a.jpg": Image.fromarray(values)})
        decoded = np.asarray(Image.open(folder / "a.jpg"))
        stored = read_image_folder(folder)
        np.testing.assert_array_equal(stored[0], decoded.reshape(stored.shape[1:]))


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (
            lambda path: _png(path, np.stack([GREY16] * 3, -1), 2),
            "is a 16-bit RGB PNG, which Pillow reads as 8 bits per channel",
        ),
        (
            lambda path: _png(path, np.stack([GREY16] * 4, -1), 6),
            "is a 16-bit RGBA PNG, which Pillow reads as 8 bits per channel",
        ),
        (
            lambda path: _png(path, np.stack([GREY16] * 2, -1), 4),
            "is a 16-bit greyscale + alpha PNG, which Pillow reads as 8 bits",
        ),
        (lambda path: Image.new("CMYK", (6, 4)).save(path.with_suffix(".jpg")), "CMYK JPEG"),
        (
            lambda path: Image.fromarray(GREY8).save(
                path, save_all=True, append_images=[Image.fromarray(GREY8 // 2)]
            ),
            "is an animated PNG of 2 frames",
        ),
    ],
)
def test_images_that_cannot_be_read_exactly_are_refused(
    file: Any, message: str, tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    file(folder / "bad.png")
    with pytest.raises(DataError, match=r"bad\.(png|jpg)") as error:
        open_data(folder)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_folder_mixing_modes_and_depths_is_refused_naming_two_files(tmp_path: Path) -> None:
    # The folder: an RGBA PNG, a palette PNG and a 16-bit PNG; it trained as
    # 3-channel 8-bit data, alpha dropped and depths clipped.
    rgba = np.concatenate([RGB8, ALPHA8[..., None]], -1)
    images = {
        "a.png": Image.fromarray(rgba),
        "b.png": _palette(False),
        "c.png": Image.fromarray(GREY16),
    }
    folder = _folder(tmp_path, "mixed", images)
    with pytest.raises(DataError) as error:
        open_data(folder)
    assert str(error.value) == (
        f"the images in {folder} differ in mode or bit depth: a.png is 8-bit RGBA and b.png "
        "is 8-bit RGB; say what to convert them to (--image-mode L, LA, RGB or RGBA on the "
        "command line, image_mode=... in Python; the command-line guide gives the rules)"
    )
    # Told how to unify them, each is converted by the stated rules, exactly.
    stored = read_image_folder(folder, image_mode="RGBA")
    assert stored.dtype == np.uint16  # a 16-bit image is among them: 8 bits times 257
    opaque = np.full((4, 6, 1), 65535, np.uint16)
    np.testing.assert_array_equal(stored[0], rgba.astype(np.uint16) * 257)
    palette = PALETTE[GREY8 % 3].astype(np.uint16) * 257
    np.testing.assert_array_equal(stored[1], np.concatenate([palette, opaque], -1))
    grey = np.repeat(GREY16[..., None], 3, -1)
    np.testing.assert_array_equal(stored[2], np.concatenate([grey, opaque], -1))


def test_sixteen_bit_greyscale_is_not_clipped(tmp_path: Path) -> None:
    # The issue: 99.7% of a 16-bit PNG's pixels loaded as 1.0 (clipped to 8 bits).
    folder = _folder(tmp_path, "scans", {"a.png": Image.fromarray(GREY16)})
    values = open_data(folder).take(np.array([0]))[0, ..., 0]
    np.testing.assert_allclose(values, GREY16 / 65535, rtol=1e-7)
    assert np.mean(values == 1.0) < 0.01


def test_image_mode_conversions_follow_the_stated_rules(tmp_path: Path) -> None:
    rgba = np.concatenate([RGB8, ALPHA8[..., None]], -1)
    folder = _folder(
        tmp_path, "two", {"a.png": Image.fromarray(rgba), "b.png": Image.fromarray(GREY8)}
    )
    grey = read_image_folder(folder, image_mode="L")
    r, g, b = (RGB8[..., i].astype(np.int64) for i in range(3))
    luma = (299 * r + 587 * g + 114 * b + 500) // 1000
    np.testing.assert_array_equal(grey[0, ..., 0], luma)  # alpha dropped, luma rounded
    np.testing.assert_array_equal(grey[1, ..., 0], GREY8)
    pillow = np.asarray(Image.fromarray(RGB8).convert("L"))
    assert np.abs(luma - pillow.astype(np.int64)).max() <= 1  # Pillow's own rule, in integers
    rgb = read_image_folder(folder, image_mode="RGB")
    np.testing.assert_array_equal(rgb[0], RGB8)
    np.testing.assert_array_equal(rgb[1], np.repeat(GREY8[..., None], 3, -1))
    la = read_image_folder(folder, image_mode="LA")
    np.testing.assert_array_equal(la[1, ..., 1], np.full((4, 6), 255))


# -- integer arrays --------------------------------------------------------------------------


def test_twelve_bit_values_in_int16_need_their_range(tmp_path: Path) -> None:
    values = np.linspace(0, 4000, 60).astype(np.int16).reshape(10, 6)
    np.save(tmp_path / "scans.npy", values)
    with pytest.raises(DataError) as error:
        open_data(tmp_path / "scans.npy")
    assert str(error.value) == (
        f"{tmp_path / 'scans.npy'} holds int16 values from 0 to 4000; elbox scales integers "
        "by their dtype's range only for uint8 (0 to 255) and uint16 (0 to 65535): say which "
        "range these values come from with --value-range LO HI (value_range=(LO, HI) in "
        "Python), e.g. --value-range 0 4095 for 12-bit data, or save them as uint8 or uint16"
    )
    data = open_data(tmp_path / "scans.npy", value_range=(0.0, 4095.0))
    assert (data.scaled_from, data.value_range) == ((0.0, 4095.0), (0.0, 1.0))
    np.testing.assert_allclose(data.take(np.arange(10)), values / 4095, rtol=1e-7)


def test_a_value_range_maps_lo_hi_onto_the_unit_interval(tmp_path: Path) -> None:
    values = np.array([[-1000, 0, 24], [1000, 7, -3]], np.int64)
    np.save(tmp_path / "x.npy", values)
    data = open_data(tmp_path / "x.npy", value_range=(-1000.0, 1000.0))
    np.testing.assert_allclose(data.take(np.arange(2)), (values + 1000) / 2000, rtol=1e-7)
    outside = r"holds 3 values outside the value range 0 to 100, the first at index \(0, 0\); "
    with pytest.raises(DataError, match=outside + "its values run from -1000 to 1000"):
        open_data(tmp_path / "x.npy", value_range=(0.0, 100.0))
    wide = np.array([[0, 1 << 30], [5, 6]], np.int64)
    np.save(tmp_path / "wide.npy", wide)
    with pytest.raises(DataError, match=r"spans more than 2\*\*24 integers"):
        open_data(tmp_path / "wide.npy", value_range=(0.0, float(1 << 30)))


def test_value_range_in_config_json_and_a_repeat_of_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = np.linspace(0, 4000, 64 * 20).astype(np.int16).reshape(20, 8, 8)
    np.savez(tmp_path / "scans.npz", scans=values, labels=np.arange(20))
    first, again = tmp_path / "first", tmp_path / "again"
    small = ["--epochs", "1", "--batch-size", "4", "--hidden", "8", "--latent", "2"]
    flags = ["--data", str(tmp_path / "scans.npz"), "--data-key", "scans"]
    flags += ["--value-range", "0", "4095", "--eval-samples", "4"]
    assert main(["train", *small, *flags, "--output", str(first)]) == 0
    config = json.loads((first / "config.json").read_text())
    assert config["data"]["scaled_from"] == [0.0, 4095.0]
    assert config["data"]["value_range"] == [0.0, 1.0]
    assert config["options"]["value_range"] == [0.0, 4095.0]
    # The README's "repeat a run", for a --data run (config.json holds data and dataset).
    code = main(["train", "--config", str(first / "config.json"), "--output", str(again)])
    assert code == 0, capsys.readouterr().err
    lines = [(run / "metrics.jsonl").read_text().splitlines() for run in (first, again)]
    steps = [[line for line in run if '"step"' in line[:20]] for run in lines]
    assert steps[0] == steps[1]


def test_config_json_of_every_data_source_passes_the_checks(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "photos", {"a.png": Image.fromarray(GREY8)})
    for data in (None, tmp_path / "x.npy", tmp_path / "x.npz", folder):
        options = TrainOptions(data=data, image_mode="L" if data == folder else None)
        record = {"options": options.to_json()}
        path = tmp_path / "config.json"
        path.write_text(json.dumps(record))
        values = read_config_file(path)
        assert check_options(TrainOptions(**values), values) == []
        assert ("dataset" in values) == (data is None)
