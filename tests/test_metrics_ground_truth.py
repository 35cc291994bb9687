"""FactorVAE and beta-VAE scores against disentanglement_lib's code, and the ShapesGrid data.

`reference_factor_vae` and `reference_beta_vae` transcribe google-research/
disentanglement_lib (`disentanglement_lib/evaluation/metrics/factor_vae.py` and
`beta_vae.py`), with its data interface
(`disentanglement_lib/data/ground_truth/ground_truth_data.py`).
"""

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn import linear_model

from elbox.data import ShapesGrid, draw_shapes
from elbox.metrics import GroundTruthData, beta_vae_score, factor_vae_score
from elbox.metrics._factor_vae import vote_tables

Arr = npt.NDArray[Any]
Represent = Callable[[Arr], Arr]


class IdentityData:
    """Ground truth whose observations are the factors themselves (as dummy_data's)."""

    factors_num_values = (4, 5, 6, 3)
    num_factors = 4

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> Arr:
        return np.stack(
            [random_state.randint(n, size=num) for n in self.factors_num_values], axis=1
        )

    def sample_observations_from_factors(
        self, factors: Arr, random_state: np.random.RandomState
    ) -> Arr:
        return factors.astype(np.float64)

    def sample(self, num: int, random_state: np.random.RandomState) -> tuple[Arr, Arr]:
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num: int, random_state: np.random.RandomState) -> Arr:
        return self.sample(num, random_state)[1]


# -- disentanglement_lib, transcribed ------------------------------------------------------


def reference_factor_vae(
    ground_truth_data: IdentityData,
    representation_function: Represent,
    random_state: np.random.RandomState,
    batch_size: int,
    num_train: int,
    num_eval: int,
    num_variance_estimate: int,
    threshold: float = 0.05,
    fix_index: bool = False,
) -> tuple[float, Arr | None]:
    """compute_factor_vae's eval_accuracy and training votes; `fix_index`: elbox's fix."""
    observations = ground_truth_data.sample_observations(num_variance_estimate, random_state)
    representations = np.concatenate(
        [representation_function(observations[i : i + 64]) for i in range(0, len(observations), 64)]
    )
    global_variances = np.var(representations, axis=0, ddof=1)
    active_dims = np.sqrt(global_variances) >= threshold
    if not active_dims.any():
        return 0.0, None

    def generate_training_batch(num_points: int) -> Arr:
        votes = np.zeros((ground_truth_data.num_factors, global_variances.shape[0]), np.int64)
        for _ in range(num_points):
            factor_index = random_state.randint(ground_truth_data.num_factors)
            factors = ground_truth_data.sample_factors(batch_size, random_state)
            factors[:, factor_index] = factors[0, factor_index]
            observations = ground_truth_data.sample_observations_from_factors(factors, random_state)
            representations = representation_function(observations)
            local_variances = np.var(representations, axis=0, ddof=1)
            argmin = np.argmin(local_variances[active_dims] / global_variances[active_dims])
            if fix_index:
                argmin = np.flatnonzero(active_dims)[argmin]
            votes[factor_index, argmin] += 1
        return votes

    training_votes = generate_training_batch(num_train)
    classifier = np.argmax(training_votes, axis=0)
    other_index = np.arange(training_votes.shape[1])
    eval_votes = generate_training_batch(num_eval)
    accuracy = float(np.sum(eval_votes[classifier, other_index]) * 1.0 / np.sum(eval_votes))
    return accuracy, training_votes


def reference_beta_vae(
    ground_truth_data: IdentityData,
    representation_function: Represent,
    random_state: np.random.RandomState,
    batch_size: int,
    num_train: int,
    num_eval: int,
) -> float:
    """compute_beta_vae_sklearn's eval_accuracy."""

    def generate_training_batch(num_points: int) -> tuple[Arr, Arr]:
        points = None
        labels = np.zeros(num_points, dtype=np.int64)
        for i in range(num_points):
            index = random_state.randint(ground_truth_data.num_factors)
            factors1 = ground_truth_data.sample_factors(batch_size, random_state)
            factors2 = ground_truth_data.sample_factors(batch_size, random_state)
            factors2[:, index] = factors1[:, index]
            observation1 = ground_truth_data.sample_observations_from_factors(
                factors1, random_state
            )
            observation2 = ground_truth_data.sample_observations_from_factors(
                factors2, random_state
            )
            representation1 = representation_function(observation1)
            representation2 = representation_function(observation2)
            feature_vector = np.mean(np.abs(representation1 - representation2), axis=0)
            labels[i] = index
            if points is None:
                points = np.zeros((num_points, feature_vector.shape[0]))
            points[i, :] = feature_vector
        assert points is not None
        return points, labels

    train_points, train_labels = generate_training_batch(num_train)
    model = linear_model.LogisticRegression(random_state=random_state)
    model.fit(train_points, train_labels)
    eval_points, eval_labels = generate_training_batch(num_eval)
    return float(model.score(eval_points, eval_labels))


# -- representations of IdentityData's observations (= factors) ------------------------------


def perfect(observations: Arr) -> Arr:
    return observations


def entangled(observations: Arr) -> Arr:
    mixing = np.array(
        [[1.0, 0.6, 0.0, 0.0], [0.5, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.2], [0.0, 0.0, 0.0, 1.0]]
    )
    mixed: Arr = observations @ mixing.T
    return mixed


def random_representation(seed: int) -> Represent:
    rng = np.random.default_rng(seed)

    def represent(observations: Arr) -> Arr:
        return rng.normal(size=(len(observations), 4))

    return represent


def with_dead_dimension(observations: Arr) -> Arr:
    """A collapsed (constant) first dimension, then the factors: pruned by FactorVAE."""
    return np.concatenate([np.zeros((len(observations), 1)), observations], axis=1)


SIZES: dict[str, Any] = {"batch_size": 16, "num_train": 300, "num_eval": 200}


@pytest.mark.parametrize("kind", ["perfect", "entangled", "random"])
def test_factor_vae_matches_reference(kind: str) -> None:
    def represent() -> Represent:
        return {"perfect": perfect, "entangled": entangled}.get(kind) or random_representation(0)

    expected, _ = reference_factor_vae(
        IdentityData(), represent(), np.random.RandomState(3), **SIZES, num_variance_estimate=500
    )
    got = factor_vae_score(represent(), IdentityData(), seed=3, **SIZES, num_variance_estimate=500)
    assert got == expected
    if kind == "perfect":
        assert got == 1.0
    if kind == "random":
        assert got == pytest.approx(1 / 4, abs=0.1)


def test_factor_vae_fixes_the_reference_index_bug() -> None:
    data, sizes = IdentityData(), {**SIZES, "num_variance_estimate": 500}
    got = factor_vae_score(with_dead_dimension, data, seed=0, **sizes)
    buggy, buggy_votes = reference_factor_vae(
        data, with_dead_dimension, np.random.RandomState(0), **sizes
    )
    fixed, fixed_votes = reference_factor_vae(
        data, with_dead_dimension, np.random.RandomState(0), **sizes, fix_index=True
    )
    # A majority vote does not care how the dimensions are numbered: the scores agree.
    assert got == fixed == buggy == 1.0
    # But the reference votes one dimension to the left of the right one: factor 0 goes
    # to the dead dimension 0, and factor k to dimension k rather than k + 1.
    tables = vote_tables(
        with_dead_dimension,
        data,
        np.random.RandomState(0),
        num_factors=4,
        batch_size=16,
        num_train=300,
        num_eval=200,
        num_variance_estimate=500,
        prune_threshold=0.05,
    )
    assert tables is not None
    np.testing.assert_array_equal(tables[0], fixed_votes)
    assert tables[0][:, 0].sum() == 0
    assert np.argmax(tables[0], axis=1).tolist() == [1, 2, 3, 4]
    assert buggy_votes is not None
    assert np.argmax(buggy_votes, axis=1).tolist() == [0, 1, 2, 3]


def test_factor_vae_scores_zero_without_active_dimensions() -> None:
    def constant(observations: Arr) -> Arr:
        return np.ones((len(observations), 3))

    assert factor_vae_score(constant, IdentityData(), seed=0, num_variance_estimate=100) == 0.0


@pytest.mark.parametrize("kind", ["perfect", "entangled", "random"])
def test_beta_vae_matches_reference(kind: str) -> None:
    def represent() -> Represent:
        return {"perfect": perfect, "entangled": entangled}.get(kind) or random_representation(1)

    expected = reference_beta_vae(IdentityData(), represent(), np.random.RandomState(4), **SIZES)
    got = beta_vae_score(represent(), IdentityData(), seed=4, **SIZES)
    assert got == expected
    if kind == "perfect":
        assert got == 1.0
    if kind == "random":
        assert got == pytest.approx(1 / 4, abs=0.1)


def test_scores_are_reproducible_from_the_seed() -> None:
    kwargs: dict[str, Any] = {"batch_size": 8, "num_train": 60, "num_eval": 40}
    first = factor_vae_score(entangled, IdentityData(), seed=7, num_variance_estimate=100, **kwargs)
    again = factor_vae_score(entangled, IdentityData(), seed=7, num_variance_estimate=100, **kwargs)
    assert first == again
    scores = {
        beta_vae_score(random_representation(0), IdentityData(), seed=s, **kwargs) for s in range(3)
    }
    assert len(scores) > 1  # the seed matters


# -- bad input --------------------------------------------------------------------------------


class NoFactors:
    def sample_factors(self, num: int, random_state: np.random.RandomState) -> Arr:
        return np.zeros((num, 1), np.int64)


class FloatFactors(IdentityData):
    def sample_factors(self, num: int, random_state: np.random.RandomState) -> Arr:
        return super().sample_factors(num, random_state) + 0.5


@pytest.mark.usefixtures("without_hook_checks")
@pytest.mark.parametrize("score", [factor_vae_score, beta_vae_score])
@pytest.mark.parametrize(
    ("represent", "data", "kwargs", "error", "message"),
    [
        (perfect, NoFactors(), {}, TypeError, r"data must be ground-truth data .*NoFactors has no"),
        (perfect, IdentityData(), {"num_train": 0}, ValueError, r"num_train must be >= 1; got 0"),
        (perfect, IdentityData(), {"num_eval": 1.5}, ValueError, r"num_eval must be an integer"),
        (perfect, IdentityData(), {"seed": -1}, ValueError, r"seed must be an int in \[0, 2\*\*32"),
        (
            lambda o: o[:, 0],
            IdentityData(),
            {},
            ValueError,
            r"represent\(observations\) must return one code per observation",
        ),
        (
            perfect,
            FloatFactors(),
            {},
            ValueError,
            r"data.sample_factors\(\d+, random_state\) must return ints",
        ),
    ],
)
def test_bad_input_is_named(
    score: Any,
    represent: Any,
    data: Any,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    arguments = {"seed": 0, "batch_size": 4, "num_train": 5, "num_eval": 5, **kwargs}
    with pytest.raises(error, match=message):
        score(represent, data, **arguments)


@pytest.mark.usefixtures("without_hook_checks")
def test_score_specific_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"batch_size must be >= 2; got 1"):
        factor_vae_score(perfect, IdentityData(), seed=0, batch_size=1)
    with pytest.raises(ValueError, match=r"prune_threshold must be a finite number >= 0; got -0.1"):
        factor_vae_score(perfect, IdentityData(), seed=0, prune_threshold=-0.1)
    with pytest.raises(ValueError, match=r"num_variance_estimate must be >= 2; got 1"):
        factor_vae_score(perfect, IdentityData(), seed=0, num_variance_estimate=1)
    with pytest.raises(ValueError, match=r"all 1 training points fix the same factor"):
        beta_vae_score(perfect, IdentityData(), seed=0, num_train=1)


# -- ShapesGrid -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grid() -> ShapesGrid:
    return ShapesGrid()


def test_shapes_grid_is_a_dsprites_like_grid(grid: ShapesGrid) -> None:
    assert isinstance(grid, GroundTruthData)
    assert grid.factor_names == ("shape", "scale", "rotation", "x", "y")
    assert grid.factors_num_values == (3, 6, 40, 16, 16)
    assert grid.num_factors == 5
    assert grid.observation_shape == (32, 32, 1)
    np.testing.assert_allclose(grid.scales, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0], rtol=1e-6)
    np.testing.assert_allclose(grid.rotations[:2], [0.0, 2 * np.pi / 40], rtol=1e-6)
    assert grid.positions.tolist() == list(range(8, 24))
    assert repr(grid) == "ShapesGrid(size=32, num_rotations=40)"


def test_shapes_grid_draws_what_draw_shapes_draws(grid: ShapesGrid) -> None:
    factors = grid.sample_factors(3000, np.random.RandomState(0))
    images = grid.sample_observations_from_factors(factors, np.random.RandomState(0))
    assert images.shape == (3000, 32, 32, 1)
    assert images.dtype == np.float32
    np.testing.assert_array_equal(images, draw_shapes(**grid.factor_values(factors), size=32))
    # The corners of the grid: smallest and largest positions, shapes and scales.
    corners = np.array([[0, 0, 0, 0, 0], [2, 5, 39, 15, 15], [1, 5, 7, 0, 15], [2, 0, 0, 15, 0]])
    np.testing.assert_array_equal(
        grid.sample_observations_from_factors(corners),
        draw_shapes(**grid.factor_values(corners), size=32),
    )


@pytest.mark.parametrize(("size", "num_rotations"), [(16, 10), (64, 12), (33, 3)])
def test_other_sizes_are_exact_too(size: int, num_rotations: int) -> None:
    small = ShapesGrid(size=size, num_rotations=num_rotations)
    assert small.factors_num_values[:3] == (3, 6, num_rotations)
    low, high = small.positions[[0, -1]]
    assert low >= 0.2 * size + 1
    assert high <= size - 1 - (0.2 * size + 1)
    factors, images = small.sample(500, np.random.default_rng(1))
    np.testing.assert_array_equal(images, draw_shapes(**small.factor_values(factors), size=size))


def test_sampling_is_uniform_and_seeded(grid: ShapesGrid) -> None:
    factors = grid.sample_factors(20000, np.random.RandomState(5))
    assert factors.dtype == np.int64
    for column, n in enumerate(grid.factors_num_values):
        counts = np.bincount(factors[:, column], minlength=n)
        assert counts.size == n
        assert counts.min() > 0.8 * 20000 / n
    again = grid.sample_factors(20000, np.random.RandomState(5))
    np.testing.assert_array_equal(factors, again)
    # disentanglement_lib's order: each factor in turn, randint(n, size=num).
    expected = np.random.RandomState(5)
    np.testing.assert_array_equal(factors[:, 0], expected.randint(3, size=20000))


def test_shapes_grid_holds_sprites_not_the_grid() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = ShapesGrid()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    full_grid = int(np.prod(kept.factors_num_values)) * 32 * 32  # bytes, as bool
    assert held < 5_000_000 < full_grid / 30


@pytest.mark.usefixtures("without_hook_checks")
def test_shapes_grid_rejects_bad_codes_and_arguments(grid: ShapesGrid) -> None:
    with pytest.raises(ValueError, match=r"factors\[1, 3\] = 16 is outside the grid: factor 'x'"):
        grid.sample_observations_from_factors(np.array([[0, 0, 0, 0, 0], [0, 0, 0, 16, 0]]))
    with pytest.raises(ValueError, match=r"factors must have shape \(num, 5\); got shape \(5,\)"):
        grid.sample_observations_from_factors(np.zeros(5, np.int64))
    with pytest.raises(ValueError, match=r"factors must be integer codes; got dtype float64"):
        grid.factor_values(np.zeros((1, 5)))
    with pytest.raises(ValueError, match=r"num_rotations must be a positive int; got 0"):
        ShapesGrid(num_rotations=0)
    with pytest.raises(ValueError, match=r"size must be an int of at least 8; got 4"):
        ShapesGrid(size=4)
    with pytest.raises(ValueError, match=r"num must be a non-negative int; got -1"):
        grid.sample_factors(-1, np.random.RandomState(0))


def test_scores_run_on_the_shapes_grid() -> None:
    small = ShapesGrid(size=16, num_rotations=10)
    projection = np.random.default_rng(0).normal(size=(16 * 16, 5))

    def represent(images: Arr) -> Arr:
        return images.reshape(len(images), -1) @ projection

    kwargs: dict[str, Any] = {"batch_size": 16, "num_train": 100, "num_eval": 50}
    factor_vae = factor_vae_score(represent, small, seed=0, num_variance_estimate=500, **kwargs)
    beta_vae = beta_vae_score(represent, small, seed=0, **kwargs)
    assert 0.0 <= factor_vae <= 1.0
    assert 0.0 <= beta_vae <= 1.0
    assert factor_vae == factor_vae_score(
        represent, small, seed=0, num_variance_estimate=500, **kwargs
    )
