"""MIG, SAP, modularity and DCI against disentanglement_lib's formulas, written out here.

Each `reference_*` function transcribes google-research/disentanglement_lib
(`disentanglement_lib/evaluation/metrics/{utils,mig,sap_score,modularity_explicitness,
dci}.py`) in its own layout, arrays of shape (dim, num_examples), with NumPy, SciPy and
scikit-learn; elbox's functions take (num_examples, dim).
"""

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import scipy.stats  # type: ignore[import-untyped]  # SciPy ships no type hints
from sklearn import ensemble, metrics, svm

from elbox.metrics import DCIScores, dci, mig, modularity, sap
from elbox.metrics._utils import discrete_entropy, discrete_mutual_info, histogram_discretize

Arr = npt.NDArray[Any]

# -- disentanglement_lib, transcribed ------------------------------------------------------


def reference_histogram_discretize(target: Arr, num_bins: int) -> Arr:
    discretized = np.zeros_like(target)
    for i in range(target.shape[0]):
        discretized[i, :] = np.digitize(target[i, :], np.histogram(target[i, :], num_bins)[1][:-1])
    return discretized


def reference_discrete_mutual_info(mus: Arr, ys: Arr) -> Arr:
    m = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            m[i, j] = metrics.mutual_info_score(ys[j, :], mus[i, :])
    return m


def reference_discrete_entropy(ys: Arr) -> Arr:
    return np.array([metrics.mutual_info_score(y, y) for y in ys])


def reference_mig(mus_train: Arr, ys_train: Arr, num_bins: int = 20) -> float:
    discretized_mus = reference_histogram_discretize(mus_train, num_bins)
    m = reference_discrete_mutual_info(discretized_mus, ys_train)
    entropy = reference_discrete_entropy(ys_train)
    sorted_m = np.sort(m, axis=0)[::-1]
    return float(np.mean(np.divide(sorted_m[0, :] - sorted_m[1, :], entropy[:])))


def reference_sap(mus: Arr, ys: Arr, mus_test: Arr, ys_test: Arr) -> float:
    score_matrix = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            classifier = svm.LinearSVC(C=0.01, class_weight="balanced")
            classifier.fit(mus[i, :][:, np.newaxis], ys[j, :])
            pred = classifier.predict(mus_test[i, :][:, np.newaxis])
            score_matrix[i, j] = np.mean(pred == ys_test[j, :])
    sorted_matrix = np.sort(score_matrix, axis=0)
    return float(np.mean(sorted_matrix[-1, :] - sorted_matrix[-2, :]))


def reference_modularity(mus_train: Arr, ys_train: Arr, num_bins: int = 20) -> float:
    discretized_mus = reference_histogram_discretize(mus_train, num_bins)
    mutual_information = reference_discrete_mutual_info(discretized_mus, ys_train)
    squared_mi = np.square(mutual_information)
    max_squared_mi = np.max(squared_mi, axis=1)
    numerator = np.sum(squared_mi, axis=1) - max_squared_mi
    denominator = max_squared_mi * (squared_mi.shape[1] - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0, overwritten below
        delta = numerator / denominator
    modularity_score = 1.0 - delta
    modularity_score[max_squared_mi == 0.0] = 0.0
    return float(np.mean(modularity_score))


def reference_dci(
    x_train: Arr, y_train: Arr, x_test: Arr, y_test: Arr, random_state: int
) -> dict[str, Any]:
    num_factors, num_codes = y_train.shape[0], x_train.shape[0]
    importance_matrix = np.zeros(shape=[num_codes, num_factors], dtype=np.float64)
    train_loss, test_loss = [], []
    for i in range(num_factors):
        model = ensemble.GradientBoostingClassifier(random_state=random_state)
        model.fit(x_train.T, y_train[i, :])
        importance_matrix[:, i] = np.abs(model.feature_importances_)
        train_loss.append(np.mean(model.predict(x_train.T) == y_train[i, :]))
        test_loss.append(np.mean(model.predict(x_test.T) == y_test[i, :]))

    def weighted(matrix: Arr, per: Arr, axis: int) -> float:
        if matrix.sum() == 0.0:
            matrix = np.ones_like(matrix)
        return float(np.sum(per * matrix.sum(axis=axis) / matrix.sum()))

    per_code = 1.0 - scipy.stats.entropy(importance_matrix.T + 1e-11, base=num_factors)
    per_factor = 1.0 - scipy.stats.entropy(importance_matrix + 1e-11, base=num_codes)
    return {
        "disentanglement": weighted(importance_matrix, per_code, 1),
        "completeness": weighted(importance_matrix, per_factor, 0),
        "informativeness_train": float(np.mean(train_loss)),
        "informativeness_test": float(np.mean(test_loss)),
        "importance_matrix": importance_matrix,
    }


# -- representations: perfect, random, partly entangled -----------------------------------

SIZES = (3, 4, 5)


def grid_factors(repeats: int) -> Arr:
    """Every combination of SIZES' values, `repeats` times: factors exactly independent."""
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in SIZES), indexing="ij"), -1)
    return np.tile(grid.reshape(-1, len(SIZES)), (repeats, 1))


def random_factors(n: int, seed: int) -> Arr:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, size, n) for size in SIZES], axis=1)


def representation(kind: str, factors: Arr, seed: int) -> Arr:
    rng = np.random.default_rng(seed + 100)
    n = len(factors)
    if kind == "perfect":
        return factors.astype(np.float64)
    if kind == "random":
        return rng.normal(size=(n, 4))
    # Partly entangled: factors 0 and 1 mixed into two latents, factor 2 alone, one noise.
    mixed = factors @ np.array([[1.0, 0.5, 0.0], [0.7, 1.0, 0.0], [0.0, 0.0, 1.0]]).T
    noisy = mixed + 0.3 * rng.normal(size=mixed.shape)
    return np.concatenate([noisy, rng.normal(size=(n, 1))], axis=1)


KINDS = ("perfect", "random", "entangled")

# -- the building blocks ---------------------------------------------------------------------


def test_discretisation_mutual_information_and_entropy_match_reference() -> None:
    rng = np.random.default_rng(0)
    latents = np.concatenate([rng.normal(size=(500, 3)), np.full((500, 1), 2.0)], axis=1)
    factors = random_factors(500, 1) * 7 - 3  # arbitrary integer codes, negative too
    codes = histogram_discretize(latents, 20)
    np.testing.assert_array_equal(codes, reference_histogram_discretize(latents.T, 20).T)
    assert codes.min() >= 1
    assert codes.max() <= 20
    np.testing.assert_allclose(
        discrete_mutual_info(codes, factors),
        reference_discrete_mutual_info(codes.T, factors.T),
        rtol=1e-10,
        atol=1e-14,
    )
    np.testing.assert_allclose(
        discrete_entropy(factors), reference_discrete_entropy(factors.T), rtol=1e-12
    )


# -- MIG and modularity --------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_bins", [20, 3])
def test_mig_and_modularity_match_reference(kind: str, num_bins: int) -> None:
    factors = grid_factors(8) if kind == "perfect" else random_factors(480, 2)
    latents = representation(kind, factors, 2)
    expected_mig = reference_mig(latents.T, factors.T, num_bins)
    assert mig(latents, factors, num_bins=num_bins) == pytest.approx(expected_mig, abs=1e-12)
    expected_modularity = reference_modularity(latents.T, factors.T, num_bins)
    got = modularity(latents, factors, num_bins=num_bins)
    assert got == pytest.approx(expected_modularity, abs=1e-12)


def test_mig_is_one_for_a_perfect_representation_and_near_zero_for_a_random_one() -> None:
    factors = grid_factors(8)
    assert mig(factors.astype(np.float64), factors) == pytest.approx(1.0, abs=1e-12)
    assert modularity(factors.astype(np.float64), factors) == pytest.approx(1.0, abs=1e-12)
    big = random_factors(5000, 3)
    assert mig(representation("random", big, 3), big) < 0.02
    entangled = mig(representation("entangled", big, 3), big)
    assert 0.05 < entangled < 0.9


def test_modularity_scores_a_latent_with_no_information_as_zero() -> None:
    factors = grid_factors(2)
    latents = np.concatenate([factors[:, :2], np.zeros((len(factors), 1))], axis=1)
    # Two modular latents and a constant one: (1 + 1 + 0) / 3.
    assert modularity(latents.astype(np.float64), factors) == pytest.approx(2 / 3, abs=1e-12)


# -- SAP and DCI ------------------------------------------------------------------------------


def split(kind: str, n: int, seed: int) -> tuple[Arr, Arr, Arr, Arr]:
    factors = grid_factors(n // 60) if kind == "perfect" else random_factors(n, seed)
    factors = factors[np.random.default_rng(seed).permutation(len(factors))]
    latents = representation(kind, factors, seed)
    cut = 3 * len(factors) // 4
    return latents[:cut], factors[:cut], latents[cut:], factors[cut:]


@pytest.mark.parametrize("kind", KINDS)
def test_sap_matches_reference(kind: str) -> None:
    train, train_factors, test, test_factors = split(kind, 600, 4)
    expected = reference_sap(train.T, train_factors.T, test.T, test_factors.T)
    assert sap(train, train_factors, test, test_factors) == pytest.approx(expected, abs=1e-12)


def test_sap_of_random_latents_is_near_zero() -> None:
    train, train_factors, test, test_factors = split("random", 2000, 5)
    assert sap(train, train_factors, test, test_factors) < 0.05
    train, train_factors, test, test_factors = split("perfect", 600, 5)
    assert sap(train, train_factors, test, test_factors) > 0.3


def binary_split(kind: str, seed: int) -> tuple[Arr, Arr, Arr, Arr]:
    """160 examples of three binary factors, split 120 / 40: gradient-boosted trees fit
    one tree per stage for a binary factor, which keeps DCI's tests fast."""
    rng = np.random.default_rng(seed)
    if kind == "perfect":
        grid = np.stack(np.meshgrid(*(np.arange(2),) * 3, indexing="ij"), -1).reshape(-1, 3)
        factors = rng.permutation(np.tile(grid, (20, 1)))
    else:
        factors = rng.integers(0, 2, size=(160, 3))
    latents = representation(kind, factors, seed)
    return latents[:120], factors[:120], latents[120:], factors[120:]


@pytest.mark.parametrize("kind", ["perfect", "entangled"])
def test_dci_matches_reference(kind: str) -> None:
    train, train_factors, test, test_factors = binary_split(kind, 6)
    expected = reference_dci(train.T, train_factors.T, test.T, test_factors.T, 0)
    # The default random_state is 0, as the reference is called here.
    got = dci(train, train_factors, test, test_factors)
    assert isinstance(got, DCIScores)
    assert got.disentanglement == pytest.approx(expected["disentanglement"], abs=1e-12)
    assert got.completeness == pytest.approx(expected["completeness"], abs=1e-12)
    assert got.informativeness == pytest.approx(expected["informativeness_test"], abs=1e-12)
    assert got.informativeness_train == pytest.approx(expected["informativeness_train"], abs=1e-12)
    np.testing.assert_allclose(got.importance, expected["importance_matrix"], rtol=1e-12)
    if kind == "perfect":
        assert got.informativeness == 1.0
        assert got.disentanglement > 0.9
        assert got.completeness > 0.9


def test_dci_of_random_latents_is_low() -> None:
    got = dci(*binary_split("random", 7))
    assert got.disentanglement < 0.3
    assert got.completeness < 0.3
    assert got.informativeness < 0.7  # chance is 0.5


# -- bad input --------------------------------------------------------------------------------

GOOD_LATENTS = np.random.default_rng(0).normal(size=(60, 3))
GOOD_FACTORS = grid_factors(1)


@pytest.mark.usefixtures("without_hook_checks")
@pytest.mark.parametrize(
    ("function", "latents", "factors", "kwargs", "message"),
    [
        (mig, GOOD_LATENTS[:59], GOOD_FACTORS, {}, r"latents and factors must have one row per"),
        (mig, GOOD_LATENTS, GOOD_FACTORS + 0.5, {}, r"factors must hold integer codes"),
        (mig, GOOD_LATENTS, GOOD_FACTORS * [1, 0, 1], {}, r"factors\[:, 1\] takes the single"),
        (mig, GOOD_LATENTS[:, :1], GOOD_FACTORS, {}, r"mig needs at least 2 latent dim"),
        (mig, GOOD_LATENTS, GOOD_FACTORS, {"num_bins": 0}, r"num_bins must be >= 1; got 0"),
        (mig, GOOD_LATENTS, GOOD_FACTORS[:, 0], {}, r"factors must have shape \(num_examples"),
        (mig, GOOD_LATENTS * np.nan, GOOD_FACTORS, {}, r"latents holds NaN or infinite"),
        (mig, GOOD_LATENTS.tolist(), GOOD_FACTORS, {}, r"latents must be a NumPy or JAX array"),
        (modularity, GOOD_LATENTS, GOOD_FACTORS[:, :1], {}, r"modularity needs at least 2 fac"),
        (modularity, GOOD_LATENTS, GOOD_FACTORS[:3], {}, r"one row per example.*60 and 3 rows"),
    ],
)
def test_bad_input_is_named(
    function: Any, latents: Any, factors: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        function(latents, factors, **kwargs)


@pytest.mark.usefixtures("without_hook_checks")
@pytest.mark.parametrize("function", [sap, dci])
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            (GOOD_LATENTS, GOOD_FACTORS[:50], GOOD_LATENTS, GOOD_FACTORS),
            r"latents_train and factors_train must have one row per example.*60 and 50",
        ),
        (
            (GOOD_LATENTS, GOOD_FACTORS, GOOD_LATENTS[:, :2], GOOD_FACTORS),
            r"latents_train and latents_test must have the same number of columns; got 3 and 2",
        ),
        (
            (GOOD_LATENTS, GOOD_FACTORS, GOOD_LATENTS, GOOD_FACTORS[:, :2]),
            r"factors_train and factors_test must have the same number of columns",
        ),
        (
            (GOOD_LATENTS, GOOD_FACTORS * 1.0, GOOD_LATENTS, GOOD_FACTORS),
            r"factors_train must hold integer codes",
        ),
        (
            (GOOD_LATENTS, GOOD_FACTORS * [0, 1, 1], GOOD_LATENTS, GOOD_FACTORS),
            r"factors_train\[:, 0\] takes the single value 0",
        ),
        (
            (GOOD_LATENTS, GOOD_FACTORS, GOOD_LATENTS[:10], GOOD_FACTORS),
            r"latents_test and factors_test must have one row per example",
        ),
    ],
)
def test_train_test_mismatches_are_named(function: Any, arguments: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        function(*arguments)


@pytest.mark.usefixtures("without_hook_checks")
def test_dci_needs_two_factors_and_an_int_random_state() -> None:
    one = GOOD_FACTORS[:, :1]
    with pytest.raises(ValueError, match=r"dci needs at least 2 factors"):
        dci(GOOD_LATENTS, one, GOOD_LATENTS, one)
    with pytest.raises(ValueError, match=r"random_state must be an int or None; got 'x'"):
        dci(GOOD_LATENTS, GOOD_FACTORS, GOOD_LATENTS, GOOD_FACTORS, random_state="x")  # type: ignore[arg-type]  # the error under test
