"""The shapes factor grids' splits share no image: training, validation, test and the
codes the disentanglement scores draw from (`elbox.cli._grid_splits`); `FactorSubset`
draws only its codes, also when a score fixes one factor."""

import numpy as np
import numpy.typing as npt
import pytest

from elbox.cli._grid_splits import GRID_SIZES, grid_splits
from elbox.cli._options import TrainOptions
from elbox.cli._splits import load_splits
from elbox.data import FactorSubset, ShapesGrid
from elbox.metrics import beta_vae_score, factor_vae_score


def _keys(images: npt.NDArray[np.float32]) -> set[bytes]:
    flat = images.reshape(len(images), -1).astype(bool)
    return {row.tobytes() for row in np.packbits(flat, axis=1)}


@pytest.mark.parametrize("dataset", ["shapes_grid", "shapes_grid_upright"])
def test_no_image_is_in_two_splits(dataset: str) -> None:
    splits = grid_splits(dataset)
    size = GRID_SIZES[dataset]
    assert (len(splits.pool), len(splits.test)) == (size.pool, size.test)
    pool, test = _keys(splits.images(splits.pool)), _keys(splits.images(splits.test))
    scoring = _keys(splits.images(splits.scoring.codes))
    # Distinct images within each split, and none shared between them.
    assert len(pool) == size.pool
    assert len(test) == size.test
    assert not pool & test
    assert not pool & scoring
    assert not test & scoring
    assert len(pool) + len(test) + len(scoring) == splits.distinct_images


def test_the_grid_draws_fewer_images_than_codes() -> None:
    # What the page and _grid_splits say: a square or an ellipse turned half a turn is
    # the same image; the heart is not.
    grid = ShapesGrid(num_rotations=10)
    codes = np.array([[shape, 3, 0, 8, 8] for shape in range(3)])
    turned = codes.copy()
    turned[:, 2] = 5  # half a turn of 10 rotations
    same = (
        grid.sample_observations_from_factors(codes)
        == grid.sample_observations_from_factors(turned)
    ).all(axis=(1, 2, 3))
    assert same.tolist() == [True, True, False]
    assert grid_splits("shapes_grid").distinct_images == 29_184
    assert grid_splits("shapes_grid_upright").distinct_images == 3_840


def test_the_runs_train_and_test_on_the_splits_images() -> None:
    splits = grid_splits("shapes_grid_upright")
    loaded = load_splits(TrainOptions(dataset="shapes_grid_upright", model="conv"))
    pool = splits.images(splits.pool)
    np.testing.assert_array_equal(np.concatenate([loaded.train, loaded.validation]), pool)
    np.testing.assert_array_equal(loaded.test, splits.images(splits.test))
    assert loaded.image_shape == (32, 32, 1)
    # The upright grid shows four factors: the rotation, one value, is left out.
    assert splits.scoring.factor_names == ("shape", "scale", "x", "y")


def _subset() -> FactorSubset:
    grid = ShapesGrid(size=16, num_rotations=2)
    every = np.argwhere(np.ones(grid.factors_num_values, bool))
    subset = FactorSubset(grid, every[::7])
    # Every value of every factor is among the codes, so the subset numbers them as the
    # grid does, and its codes read as the grid's.
    assert subset.factors_num_values == grid.factors_num_values
    return subset


def test_a_subset_draws_only_its_codes() -> None:
    subset = _subset()
    members = {tuple(code) for code in subset.codes}
    drawn = subset.sample_factors(500, np.random.RandomState(0))
    assert {tuple(code) for code in drawn} <= members
    shared = subset.sample_factors_sharing(drawn, 3, np.random.RandomState(1))
    assert {tuple(code) for code in shared} <= members
    np.testing.assert_array_equal(shared[:, 3], drawn[:, 3])
    # The others vary: a fresh draw, not a copy.
    assert (shared != drawn).any(axis=1).mean() > 0.5


def test_a_subset_refuses_codes_outside_it() -> None:
    subset = _subset()
    outside = np.array([[0, 0, 0, 0, 1]])  # the second code, not among every seventh
    with pytest.raises(ValueError, match=r"factors\[0\] = \[0, 0, 0, 0, 1\] is not a code of the"):
        subset.sample_observations_from_factors(outside)
    grid = ShapesGrid(size=16, num_rotations=2)
    with pytest.raises(ValueError, match="codes must be distinct: a code appears twice"):
        FactorSubset(grid, np.zeros((2, 5), np.int64))
    with pytest.raises(ValueError, match=r"codes\[0, 2\] = 2 is outside the data's grid"):
        FactorSubset(grid, np.array([[0, 0, 2, 0, 0]]))
    with pytest.raises(ValueError, match=r"codes must have shape \(num, 5\)"):
        FactorSubset(grid, np.zeros((0, 5), np.int64))


@pytest.mark.usefixtures("without_hook_checks")  # the subset's own messages, not the hook's
def test_a_subset_refuses_bad_draws_and_draws_from_a_generator_too() -> None:
    subset = _subset()
    grid = ShapesGrid(size=16, num_rotations=2)
    with pytest.raises(ValueError, match="codes must be integer factor codes; got dtype float64"):
        FactorSubset(grid, np.zeros((1, 5)))
    with pytest.raises(ValueError, match="num must be a non-negative int; got -1"):
        subset.sample_factors(-1, np.random.RandomState(0))
    drawn = subset.sample_factors(3, np.random.RandomState(0))
    with pytest.raises(ValueError, match=r"index must be in 0 \.\. 4; got 5"):
        subset.sample_factors_sharing(drawn, 5, np.random.RandomState(0))
    unheld = drawn.copy()
    unheld[:, 0] = subset.factors_num_values[0]  # a value past the factor's last
    with pytest.raises(ValueError, match="factor 0 has a value that no code of the subset has"):
        subset.sample_factors_sharing(unheld, 0, np.random.RandomState(0))
    with pytest.raises(ValueError, match=r"factors must have shape \(num, 5\)"):
        subset.sample_observations_from_factors(drawn[:, :4])
    with pytest.raises(ValueError, match="factors must be integer codes; got dtype float64"):
        subset.sample_observations_from_factors(drawn.astype(np.float64))
    # A NumPy Generator draws as a RandomState does: codes of the subset, and shared ones.
    members = {tuple(code) for code in subset.codes}
    generated = subset.sample_factors(50, np.random.default_rng(0))
    assert generated.dtype == np.int64
    assert {tuple(code) for code in generated} <= members
    shared = subset.sample_factors_sharing(generated, 2, np.random.default_rng(1))
    np.testing.assert_array_equal(shared[:, 2], generated[:, 2])
    assert {tuple(code) for code in shared} <= members
    assert repr(subset).startswith(f"FactorSubset({grid!r}, {len(subset)} codes, factors ")


class _Counting:
    """A subset that counts the codes the scores ask it to draw, for checking they stay."""

    def __init__(self, subset: FactorSubset) -> None:
        self.subset = subset
        self.factors_num_values = subset.factors_num_values
        self.seen: list[npt.NDArray[np.int64]] = []

    def sample_factors(
        self, num: int, random_state: np.random.RandomState
    ) -> npt.NDArray[np.int64]:
        return self.subset.sample_factors(num, random_state)

    def sample_factors_sharing(
        self, factors: npt.NDArray[np.int64], index: int, random_state: np.random.RandomState
    ) -> npt.NDArray[np.int64]:
        return self.subset.sample_factors_sharing(factors, index, random_state)

    def sample_observations_from_factors(
        self, factors: npt.NDArray[np.int64], random_state: np.random.RandomState
    ) -> npt.NDArray[np.float32]:
        self.seen.append(np.asarray(factors))
        return np.asarray(self.subset.sample_observations_from_factors(factors), np.float32)


def test_the_scores_draw_from_the_subset_when_they_fix_a_factor() -> None:
    data = _Counting(_subset())

    projection = np.random.default_rng(0).normal(size=(16 * 16, 4))

    def represent(observations: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        return observations.reshape(len(observations), -1).astype(np.float64) @ projection

    factor_vae_score(represent, data, seed=0, num_train=8, num_eval=4, num_variance_estimate=100)
    beta_vae_score(represent, data, seed=0, num_train=8, num_eval=4)
    members = {tuple(code) for code in data.subset.codes}
    seen = np.concatenate(data.seen)
    # Every observation the scores drew is of a code of the subset (which would refuse
    # any other), many of them.
    assert {tuple(code) for code in seen} <= members
    assert len(seen) == (8 + 4) * 64 + 100 + (8 + 4) * 2 * 64
