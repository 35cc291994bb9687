"""elbox.data: the seeded batch loader, the digits split, and sprites checked against factors."""

import math
from typing import Any

import numpy as np
import pytest

from elbox.data import Batches, batches, digits, draw_shapes, position_range, shapes

# -- batches ------------------------------------------------------------------------------


def _rows(loader: Any, epoch: int | None = None) -> list[list[int]]:
    source = loader if epoch is None else loader.for_epoch(epoch)
    return [batch.tolist() for batch in source]


@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last", "sizes"),
    [
        (10, 4, True, [4, 4]),
        (10, 4, False, [4, 4, 2]),
        (8, 4, True, [4, 4]),
        (8, 4, False, [4, 4]),
        (3, 5, False, [3]),
        (7, 1, True, [1] * 7),
    ],
)
def test_batch_sizes_and_length(n: int, batch_size: int, drop_last: bool, sizes: list[int]) -> None:
    loader = batches(np.arange(n), batch_size, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(batch) for batch in loader] == sizes
    assert [len(batch) for batch in loader.for_epoch(5)] == sizes


def test_every_example_once_per_epoch() -> None:
    data = np.arange(103) * 10
    keep_all = batches(data, 8, drop_last=False, seed=3)
    drop = batches(data, 8, seed=3)
    for _ in range(3):
        seen = np.concatenate(list(keep_all))
        assert sorted(seen.tolist()) == data.tolist()
        dropped = np.concatenate(list(drop))
        assert dropped.size == 96 == len(drop) * 8
        assert np.unique(dropped).size == 96  # none twice
        assert set(dropped.tolist()) <= set(data.tolist())


def test_order_is_the_documented_permutation() -> None:
    loader = batches(np.arange(20), 5, seed=7)
    for epoch in (0, 1, 4):
        expected = np.random.default_rng([7, epoch]).permutation(20)
        np.testing.assert_array_equal(loader.order(epoch), expected)
        assert _rows(loader, epoch) == expected.reshape(4, 5).tolist()


def test_order_depends_only_on_seed_and_epoch() -> None:
    data = np.arange(50)
    first, second = batches(data, 10, seed=1), batches(data, 10, seed=1)
    for _ in range(2):  # iterating the first moves its own counter only
        list(first)
    assert _rows(first, 2) == _rows(second, 2)
    assert _rows(first, 0) == _rows(second, 0)
    assert _rows(first, 0) != _rows(first, 1)
    assert _rows(first, 0) != _rows(batches(data, 10, seed=2), 0)


def test_plain_iteration_is_for_epoch_of_the_pass() -> None:
    loader = batches(np.arange(30), 4, seed=5)
    passes = [_rows(loader) for _ in range(4)]
    reference = batches(np.arange(30), 4, seed=5)
    assert passes == [_rows(reference, k) for k in range(4)]
    assert passes[0] != passes[1] != passes[2]
    # Stopping early still starts a new epoch on the next pass.
    early = batches(np.arange(30), 4, seed=5)
    next(iter(early))
    assert _rows(early) == passes[1]


def test_no_shuffle_keeps_the_natural_order() -> None:
    loader = batches(np.arange(9), 3, shuffle=False)
    assert _rows(loader) == _rows(loader) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert _rows(loader, 11) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int64, np.bool_])
def test_batches_keep_dtype_and_trailing_shape(dtype: Any) -> None:
    data = (np.arange(6 * 8 * 8).reshape(6, 8, 8, 1) % 3).astype(dtype)
    for batch in batches(data, 4, seed=2):
        assert batch.dtype == dtype
        assert batch.shape == (4, 8, 8, 1)


def test_batches_are_copies() -> None:
    data = np.arange(6.0)
    batch = next(iter(batches(data, 3, shuffle=False)))
    batch[:] = -1.0
    np.testing.assert_array_equal(data, np.arange(6.0))


def test_mapping_batches_keep_rows_aligned() -> None:
    images = np.arange(40, dtype=np.float32).reshape(10, 2, 2) / 40
    labels = np.arange(10, dtype=np.int32)
    loader = batches({"image": images, "label": labels}, 3, seed=4, drop_last=False)
    assert len(loader) == 4
    seen = []
    for batch in loader:
        assert set(batch) == {"image", "label"}
        assert batch["image"].dtype == np.float32
        assert batch["label"].dtype == np.int32
        np.testing.assert_array_equal(batch["image"], images[batch["label"]])
        seen.extend(batch["label"].tolist())
    assert sorted(seen) == list(range(10))
    assert seen != list(range(10))  # shuffled


def test_attributes_and_repr() -> None:
    loader = batches(np.zeros((12, 3)), 5, shuffle=False, seed=9, drop_last=False)
    assert isinstance(loader, Batches)
    assert (loader.batch_size, loader.num_examples) == (5, 12)
    assert (loader.shuffle, loader.seed, loader.drop_last) == (False, 9, False)
    assert repr(loader) == (
        "Batches(num_examples=12, batch_size=5, shuffle=False, seed=9, drop_last=False)"
    )


@pytest.mark.usefixtures("without_hook_checks")
@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.arange(5), 0), {}, r"batch_size must be a positive int; got 0"),
        ((np.arange(5), -2), {}, r"batch_size must be a positive int; got -2"),
        ((np.arange(5), 2.5), {}, r"batch_size must be a positive int; got 2\.5"),
        ((np.arange(5), True), {}, r"batch_size must be a positive int; got True"),
        ((np.array(3.0), 1), {}, r"array is 0-dimensional"),
        (({"x": np.zeros(3), "s": np.array(1.0)}, 1), {}, r"array\['s'\] is 0-dimensional"),
        (
            ({"image": np.zeros((10, 2)), "label": np.zeros(9)}, 2),
            {},
            r"same leading size; got 'image': 10, 'label': 9",
        ),
        (
            (np.arange(5), 8),
            {},
            r"batch_size=8 is larger than the 5 examples.*drop_last=True.*no batch",
        ),
        ((np.zeros((0, 3)), 2), {"drop_last": False}, r"empty \(leading size 0\)"),
        ((np.zeros((0, 3)), 2), {}, r"empty \(leading size 0\)"),
        (({}, 2), {}, r"mapping of arrays is empty"),
        (([1, 2, 3], 2), {}, r"got list \(convert it with np.asarray\)"),
        ((np.arange(5), 2), {"seed": -1}, r"seed must be a non-negative int; got -1"),
        ((np.arange(5), 2), {"shuffle": "yes"}, r"shuffle must be True or False; got 'yes'"),
    ],
)
def test_batches_errors(args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        batches(*args, **kwargs)


def test_for_epoch_rejects_a_negative_epoch() -> None:
    loader = batches(np.arange(5), 2)
    with pytest.raises(ValueError, match="epoch must be a non-negative int; got -1"):
        loader.for_epoch(-1)


def test_drop_last_false_allows_a_batch_larger_than_the_data() -> None:
    assert _rows(batches(np.arange(3), 8, drop_last=False, shuffle=False)) == [[0, 1, 2]]


# -- digits -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_data() -> Any:
    return digits()


@pytest.fixture(scope="module")
def sklearn_digits() -> Any:
    from sklearn.datasets import load_digits

    return load_digits()


def test_digits_shapes_and_range(digits_data: Any) -> None:
    data = digits_data
    assert data.train.shape == (1438, 64)
    assert data.test.shape == (359, 64)
    assert data.train.dtype == data.test.dtype == np.float32
    assert data.train_labels.dtype == data.test_labels.dtype == np.int32
    assert data.train_labels.shape == (1438,)
    assert data.test_labels.shape == (359,)
    assert data.image_shape == (8, 8, 1)
    for images in (data.train, data.test):
        assert images.min() == 0.0
        assert images.max() == 1.0
        np.testing.assert_array_equal(images * 16, np.round(images * 16))  # 0..16 / 16
    assert data.train.reshape(-1, *data.image_shape).shape == (1438, 8, 8, 1)


def test_digits_split_is_disjoint_complete_and_matches_sklearn(
    digits_data: Any, sklearn_digits: Any
) -> None:
    data = digits_data
    train_index, test_index = data.train_index, data.test_index
    assert np.intersect1d(train_index, test_index).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_index, test_index])), range(1797))
    for images, labels, index in (
        (data.train, data.train_labels, train_index),
        (data.test, data.test_labels, test_index),
    ):
        np.testing.assert_array_equal(images, sklearn_digits.data[index] / 16)
        np.testing.assert_array_equal(labels, sklearn_digits.target[index])
    # The rows themselves (all 1797 are distinct) are disjoint and complete too.
    rows = {row.tobytes() for row in data.train} | {row.tobytes() for row in data.test}
    assert len(rows) == 1797
    # Stratified: round(0.2 * count) of each digit in the test set.
    counts = np.bincount(sklearn_digits.target)
    expected = [round(0.2 * c) for c in counts]
    assert np.bincount(data.test_labels, minlength=10).tolist() == expected


def test_digits_split_is_fixed_by_seed(digits_data: Any) -> None:
    again, other = digits(), digits(seed=1)
    np.testing.assert_array_equal(again.test_index, digits_data.test_index)
    np.testing.assert_array_equal(again.train, digits_data.train)
    assert not np.array_equal(other.test_index, digits_data.test_index)
    half = digits(test_fraction=0.5)
    assert abs(half.test.shape[0] - 1797 / 2) <= 10


@pytest.mark.usefixtures("without_hook_checks")
@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, float("nan")])
def test_digits_rejects_bad_fractions(fraction: float) -> None:
    with pytest.raises(ValueError, match=f"strictly between 0 and 1; got {fraction}"):
        digits(test_fraction=fraction)


# -- shapes -------------------------------------------------------------------------------

SQUARE, ELLIPSE, HEART = 0, 1, 2


def _draw(shape: int, scale: float, rotation: float, x: float, y: float, *, size: int = 32) -> Any:
    """One image, as a (size, size) array of 0s and 1s."""

    def one(value: float) -> Any:
        return np.array([value], np.float32)

    images = draw_shapes(
        np.array([shape], np.int32), one(scale), one(rotation), one(x), one(y), size=size
    )
    return images[0, :, :, 0]


def _centroids(images: Any) -> tuple[Any, Any]:
    """The (x, y) = (column, row) centroid of the lit pixels of each image."""
    rows, cols = np.indices(images.shape[1:3])
    lit = images[..., 0]
    count = lit.sum(axis=(1, 2))
    return (lit * cols).sum(axis=(1, 2)) / count, (lit * rows).sum(axis=(1, 2)) / count


def test_shapes_are_deterministic_from_seed() -> None:
    first, second, other = shapes(40, seed=3), shapes(40, seed=3), shapes(40, seed=4)
    np.testing.assert_array_equal(first.images, second.images)
    for name in first.factor_names:
        np.testing.assert_array_equal(first.factors[name], second.factors[name])
    assert not np.array_equal(first.images, other.images)


@pytest.mark.parametrize("size", [32, 16])
def test_shapes_images_and_factors(size: int) -> None:
    data = shapes(300, size=size, seed=0)
    assert data.images.shape == (300, size, size, 1)
    assert data.image_shape == (size, size, 1)
    assert data.images.dtype == np.float32
    assert set(np.unique(data.images).tolist()) == {0.0, 1.0}
    assert data.factor_names == ("shape", "scale", "rotation", "x", "y")
    assert data.shape_names == ("square", "ellipse", "heart")
    assert set(data.factors) == set(data.factor_names)
    factors = data.factors
    assert factors["shape"].dtype == np.int32
    assert set(factors["shape"].tolist()) == {0, 1, 2}
    assert 0.5 <= factors["scale"].min() < factors["scale"].max() <= 1.0
    assert 0.0 <= factors["rotation"].min() < factors["rotation"].max() < 2 * math.pi
    low, high = position_range(size)
    for name in ("x", "y"):
        assert low <= factors[name].min() < factors[name].max() <= high
        assert factors[name].dtype == np.float32
    # The images are drawn from the stored factors.
    np.testing.assert_array_equal(draw_shapes(**factors, size=size), data.images)
    # Every shape is visible, with a size that follows its scale.
    areas = data.images.sum(axis=(1, 2, 3))
    assert areas.min() >= 4
    assert np.corrcoef(areas, factors["scale"])[0, 1] > 0.8


@pytest.mark.parametrize("size", [32, 16])
def test_shapes_centroid_is_the_position(size: int) -> None:
    # Every shape, the heart included, is centred on the centroid of its area.
    data = shapes(300, size=size, seed=1)
    x, y = _centroids(data.images)
    np.testing.assert_allclose(x, data.factors["x"], atol=0.6)
    np.testing.assert_allclose(y, data.factors["y"], atol=0.6)


@pytest.mark.parametrize("size", [32, 16, 8])
def test_shapes_never_touch_the_border(size: int) -> None:
    data = shapes(500, size=size, seed=2)
    lit = data.images[..., 0]
    assert lit[:, 0, :].sum() == lit[:, -1, :].sum() == 0
    assert lit[:, :, 0].sum() == lit[:, :, -1].sum() == 0
    assert lit.sum(axis=(1, 2)).min() >= 1  # even at size 8 each shape shows
    # The worst cases: the largest shapes, at the corners of the position range, at the
    # rotation that reaches farthest (45 degrees for the square).
    low, high = position_range(size)
    for shape in (SQUARE, ELLIPSE, HEART):
        for x in (low, high):
            for y in (low, high):
                for rotation in np.linspace(0, 2 * math.pi, 16, endpoint=False):
                    image = _draw(shape, 1.0, rotation, x, y, size=size)
                    border = image[0].sum() + image[-1].sum() + image[:, 0].sum()
                    assert border + image[:, -1].sum() == 0


def test_position_range() -> None:
    # The circumradius at scale 1 is size / 5, plus one empty pixel of margin.
    assert position_range(32) == (7.4, 23.6)
    assert position_range(16) == (4.2, 10.8)


def _mean_area(shape: int, scale: float, count: int = 300, seed: int = 0) -> float:
    """The lit area averaged over random positions and rotations: the exact area in the
    mean, as every sub-pixel offset is equally likely."""
    rng = np.random.default_rng(seed)

    def fill(value: float) -> Any:
        return np.full(count, value, np.float32)

    images = draw_shapes(
        np.full(count, shape, np.int32),
        fill(scale),
        rng.uniform(0, 2 * math.pi, count).astype(np.float32),
        rng.uniform(10, 20, count).astype(np.float32),
        rng.uniform(10, 20, count).astype(np.float32),
        size=32,
    )
    return float(images.sum(axis=(1, 2, 3)).mean())


@pytest.mark.parametrize("scale", [0.5, 0.8, 1.0])
def test_shape_areas_match_the_geometry(scale: float) -> None:
    radius = scale * 32 / 5  # the circumradius in pixels
    side = math.sqrt(2) * radius  # the square's diagonal is 2 * radius
    assert _mean_area(SQUARE, scale) == pytest.approx(side**2, rel=0.02)
    assert _mean_area(ELLIPSE, scale) == pytest.approx(math.pi * radius * 0.6 * radius, rel=0.02)
    # The heart (x^2 + y^2 - 1)^3 = x^2 y^3 has area 3.6620 and, about its centroid
    # (0, 0.2935), circumradius 1.2935: 2.1887 circumradii squared.
    assert _mean_area(HEART, scale) == pytest.approx(2.1887 * radius**2, rel=0.02)


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_area_grows_as_scale_squared(shape: int) -> None:
    ratio = _mean_area(shape, 1.0) / _mean_area(shape, 0.5)
    assert ratio == pytest.approx(4.0, rel=0.03)
    single = _draw(shape, 1.0, 0.3, 15.2, 16.7).sum() / _draw(shape, 0.5, 0.3, 15.2, 16.7).sum()
    assert 3.0 < single < 5.0


def test_square_rotation_symmetry() -> None:
    upright = _draw(SQUARE, 0.9, 0.0, 15.3, 16.8)
    np.testing.assert_array_equal(_draw(SQUARE, 0.9, math.pi / 2, 15.3, 16.8), upright)
    np.testing.assert_array_equal(_draw(SQUARE, 0.9, math.pi, 15.3, 16.8), upright)
    tilted = _draw(SQUARE, 0.9, math.pi / 4, 15.3, 16.8)
    assert (tilted != upright).sum() > 10
    # Upright, the square spans its side in whole pixels: sqrt(2) * 0.9 * 32 / 5 = 8.1.
    rows, cols = np.nonzero(upright)
    assert cols.max() - cols.min() + 1 in (8, 9)
    assert rows.max() - rows.min() + 1 in (8, 9)
    assert upright.sum() in (64, 72, 81)


def test_rotation_is_counter_clockwise_about_the_centre() -> None:
    # Centred on the image's centre (15.5, 15.5), a quarter turn of the shape is a quarter
    # turn of the image, which np.rot90 makes counter-clockwise as displayed.
    for shape in (ELLIPSE, HEART):
        upright = _draw(shape, 0.9, 0.0, 15.5, 15.5)
        turned = _draw(shape, 0.9, math.pi / 2, 15.5, 15.5)
        np.testing.assert_array_equal(turned, np.rot90(upright))
        assert not np.array_equal(turned, upright)
    half_turn = _draw(HEART, 0.9, math.pi, 15.5, 15.5)
    np.testing.assert_array_equal(half_turn, _draw(HEART, 0.9, 0.0, 15.5, 15.5)[::-1, ::-1])


def test_orientation_at_rotation_zero() -> None:
    # The ellipse's major axis is horizontal; the heart is upright, tip down.
    rows, cols = np.nonzero(_draw(ELLIPSE, 1.0, 0.0, 15.5, 15.5))
    width, height = cols.max() - cols.min() + 1, rows.max() - rows.min() + 1
    assert width == pytest.approx(2 * 6.4, abs=1.5)
    assert height == pytest.approx(2 * 0.6 * 6.4, abs=1.5)
    rows, cols = np.nonzero(_draw(HEART, 1.0, 0.0, 15.5, 15.5))
    below, above = rows.max() - 15.5, 15.5 - rows.min()
    assert below == pytest.approx(6.4, abs=1.0)  # the tip, at one circumradius
    assert above == pytest.approx(6.4 * 0.9427 / 1.2935, abs=1.0)  # the lobes' top
    assert (cols - 15.5).max() == pytest.approx(6.4 * 1.1384 / 1.2935, abs=1.0)


@pytest.mark.usefixtures("without_hook_checks")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, r"n must be a positive int; got 0"),
        ({"n": 2.0}, r"n must be a positive int; got 2\.0"),
        ({"n": 4, "size": 7}, r"size must be an int of at least 8; got 7"),
        ({"n": 4, "seed": -3}, r"seed must be a non-negative int; got -3"),
    ],
)
def test_shapes_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shapes(**kwargs)


@pytest.mark.usefixtures("without_hook_checks")
def test_draw_shapes_errors() -> None:
    one = np.ones(1, np.float32)
    with pytest.raises(ValueError, match=r"1-d arrays of one length; got shapes shape: \(2,\)"):
        draw_shapes(np.zeros(2, np.int32), one, one, one, one)
    with pytest.raises(ValueError, match=r"0, 1 or 2; got \[3\]"):
        draw_shapes(np.array([3], np.int32), one, one, one, one)
