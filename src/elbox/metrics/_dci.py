"""Disentanglement, completeness and informativeness (Eastwood and Williams, 2018)."""

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, final

import numpy as np
import numpy.typing as npt
from jaxtyping import ArrayLike, Float64, Integer, Real

from ._checks import (
    checked_at_least,
    checked_train_test,
)

# disentanglement_lib adds this to the importances before taking entropies, so that a
# zero row or column gives the uniform distribution rather than 0 / 0.
_EPSILON = 1e-11


@final
@dataclasses.dataclass(frozen=True, eq=False)
class DCIScores:
    """The three DCI scores, and the importance matrix they come from.

    Attributes:
        disentanglement: how much each latent dimension concentrates on one factor,
            weighted by the dimension's total importance; between 0 and 1.
        completeness: how much each factor is captured by one latent dimension, weighted
            by the factor's total importance; between 0 and 1.
        informativeness: the mean test accuracy of the factors' classifiers
            (disentanglement_lib's `informativeness_test`).
        informativeness_train: their mean training accuracy (`informativeness_train`).
        importance: `R[i, k]`, the importance of latent i for predicting factor k,
            `(latent, num_factors)`.
    """

    disentanglement: float
    completeness: float
    informativeness: float
    informativeness_train: float
    importance: Float64[np.ndarray, "latent num_factors"]


def dci(
    latents_train: Real[ArrayLike, "num_train latent"],
    factors_train: Integer[ArrayLike, "num_train num_factors"],
    latents_test: Real[ArrayLike, "num_test latent"],
    factors_test: Integer[ArrayLike, "num_test num_factors"],
    *,
    random_state: int | None = 0,
) -> DCIScores:
    """Disentanglement, completeness and informativeness from gradient-boosted trees.

    Eastwood and Williams (2018, "A framework for the quantitative evaluation of
    disentangled representations", sec. 2), as google-research/disentanglement_lib
    computes it (`evaluation/metrics/dci.py`, `compute_importance_gbt`,
    `disentanglement` and `completeness`):

    1. for each factor k, `sklearn.ensemble.GradientBoostingClassifier()` (default
       settings) learns k from all latents on the training set; `R[:, k]` is the
       absolute value of its `feature_importances_`; informativeness is its accuracy,
       on the test and on the training set, averaged over factors;
    2. disentanglement: for each latent i, `D_i = 1 - H(P_i.)` with `P_ik = R[i, k] /
       sum_k R[i, k]` and the entropy in base `num_factors`; the average weighted by
       `sum_k R[i, k] / sum R`;
    3. completeness: for each factor k, `C_k = 1 - H(P_.k)` with `P_ik = R[i, k] /
       sum_i R[i, k]` and the entropy in base `latent`; the average weighted by
       `sum_i R[i, k] / sum R`.

    `1e-11` is added to `R` before the entropies, as in the reference.

    Args:
        latents_train: the representation of the training examples,
            `(num_train, latent)`; at least 2 dimensions.
        factors_train: their ground-truth factors, integer codes,
            `(num_train, num_factors)`; at least 2 factors, each taking at least two
            values.
        latents_test: the representation of the test examples, `(num_test, latent)`.
        factors_test: their factors, `(num_test, num_factors)`.
        random_state: the trees' `random_state`. disentanglement_lib passes none
            (`None`: NumPy's global state, so results vary between runs); the default, 0,
            makes the scores reproducible.

    Returns:
        The [`DCIScores`][elbox.metrics.DCIScores].

    Raises:
        ValueError: for arrays of the wrong shape or dtype, latents and factors with
            different numbers of rows, training and test arrays with different columns,
            a training factor that takes a single value, or fewer than 2 latent
            dimensions or factors.

    Example:
        >>> import numpy as np
        >>> from elbox.metrics import dci
        >>> rng = np.random.default_rng(0)
        >>> factors = rng.integers(0, 3, size=(200, 2))
        >>> latents = factors + 0.1 * rng.normal(size=(200, 2))
        >>> scores = dci(latents[:150], factors[:150], latents[150:], factors[150:])
        >>> good = scores.disentanglement > 0.9, scores.completeness > 0.9
        >>> good, scores.informativeness
        ((True, True), 1.0)
    """
    train, train_factors, test, test_factors = checked_train_test(
        latents_train, factors_train, latents_test, factors_test
    )
    checked_at_least(train.shape[1], 2, "latent dimensions (columns of latents_train)", "dci")
    checked_at_least(train_factors.shape[1], 2, "factors (columns of factors_train)", "dci")
    if random_state is not None and (
        isinstance(random_state, bool) or not isinstance(random_state, int)
    ):
        raise ValueError(f"random_state must be an int or None; got {random_state!r}")
    # scikit-learn ships no type information.
    from sklearn.ensemble import GradientBoostingClassifier

    def fit(k: int) -> tuple[npt.NDArray[Any], float, float]:
        model = GradientBoostingClassifier(random_state=random_state)
        model.fit(train, train_factors[:, k])
        return (
            np.abs(model.feature_importances_),
            float(np.mean(model.predict(train) == train_factors[:, k])),
            float(np.mean(model.predict(test) == test_factors[:, k])),
        )

    # One classifier per factor, each independent of the others: they are fitted on
    # threads (scikit-learn builds trees without the GIL), with the same results as
    # one after the other, since each has its own `random_state`.
    factors = range(train_factors.shape[1])
    with ThreadPoolExecutor(max_workers=min(len(factors), os.cpu_count() or 1)) as pool:
        fitted = list(pool.map(fit, factors))
    importance = np.stack([row[0] for row in fitted], axis=1)
    return DCIScores(
        disentanglement=_weighted_score(importance),
        completeness=_weighted_score(importance.T),
        informativeness=float(np.mean([row[2] for row in fitted])),
        informativeness_train=float(np.mean([row[1] for row in fitted])),
        importance=importance,
    )


def _weighted_score(importance: npt.NDArray[Any]) -> float:
    """`sum_i (1 - H_base(row i)) * weight_i`, the entropy in base `importance.shape[1]`.

    Rows are latents for disentanglement; for completeness pass the transpose.
    """
    p = importance + _EPSILON
    p = p / p.sum(axis=1, keepdims=True)
    entropy = -np.sum(p * np.log(p), axis=1) / np.log(importance.shape[1])
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    weights = importance.sum(axis=1) / importance.sum()
    return float(np.sum((1.0 - entropy) * weights))
