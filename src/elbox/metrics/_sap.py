"""The Separated Attribute Predictability score (Kumar et al., 2018), as disentanglement_lib."""

import warnings

import numpy as np
import numpy.typing as npt
from jaxtyping import ArrayLike, Integer, Real

from ._checks import (
    checked_at_least,
    checked_train_test,
)


def sap(
    latents_train: Real[ArrayLike, "num_train latent"],
    factors_train: Integer[ArrayLike, "num_train num_factors"],
    latents_test: Real[ArrayLike, "num_test latent"],
    factors_test: Integer[ArrayLike, "num_test num_factors"],
) -> float:
    """The SAP score: the gap in how well the best two single latents predict each factor.

    Kumar, Sattigeri and Balakrishnan (2018, "Variational inference of disentangled
    latent concepts from unlabeled observations", sec. 3), as
    google-research/disentanglement_lib computes it for discrete factors
    (`evaluation/metrics/sap_score.py`, `compute_score_matrix` with
    `continuous_factors=False`, and `compute_avg_diff_top_two`):

    1. for each latent dimension i and factor k, a linear SVM
       (`sklearn.svm.LinearSVC(C=0.01, class_weight="balanced")`) learns factor k from
       latent i alone on the training set; `S[i, k]` is its accuracy on the test set;
    2. for each factor, the gap between the largest and second largest `S[i, k]`;
    3. the mean over factors.

    The SVM is scikit-learn's current default formulation (`dual="auto"`, passed
    explicitly so that older releases do not warn); it solves the same problem as the
    `dual=True` of disentanglement_lib's time. A `ConvergenceWarning` from it is
    silenced: the classifier's settings are part of the metric's definition.

    Args:
        latents_train: the representation of the training examples,
            `(num_train, latent)`; at least 2 dimensions.
        factors_train: their ground-truth factors, integer codes,
            `(num_train, num_factors)`; each factor must take at least two values.
        latents_test: the representation of the test examples, `(num_test, latent)`.
        factors_test: their factors, `(num_test, num_factors)`.

    Returns:
        The SAP score, between 0 and 1.

    Raises:
        ValueError: for arrays of the wrong shape or dtype, latents and factors with
            different numbers of rows, training and test arrays with different columns,
            a training factor that takes a single value, or fewer than 2 latent
            dimensions.

    Example:
        >>> import numpy as np
        >>> from elbox.metrics import sap
        >>> rng = np.random.default_rng(0)
        >>> factors = rng.integers(0, 3, size=(400, 2))
        >>> latents = np.concatenate([factors, rng.normal(size=(400, 1))], axis=1)
        >>> round(sap(latents[:300], factors[:300], latents[300:], factors[300:]), 2)
        0.28
    """
    train, train_factors, test, test_factors = checked_train_test(
        latents_train, factors_train, latents_test, factors_test
    )
    checked_at_least(train.shape[1], 2, "latent dimensions (columns of latents_train)", "sap")
    scores = score_matrix(train, train_factors, test, test_factors)
    ordered = np.sort(scores, axis=0)
    return float(np.mean(ordered[-1] - ordered[-2]))


def score_matrix(
    latents_train: npt.NDArray[np.float64],
    factors_train: npt.NDArray[np.int64],
    latents_test: npt.NDArray[np.float64],
    factors_test: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """`S[i, k]`: the test accuracy of a linear SVM predicting factor k from latent i."""
    # scikit-learn ships no type information.
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    scores = np.zeros((latents_train.shape[1], factors_train.shape[1]))
    for i in range(latents_train.shape[1]):
        for k in range(factors_train.shape[1]):
            classifier = LinearSVC(C=0.01, class_weight="balanced", dual="auto")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                classifier.fit(latents_train[:, i : i + 1], factors_train[:, k])
            predicted = classifier.predict(latents_test[:, i : i + 1])
            scores[i, k] = np.mean(predicted == factors_test[:, k])
    return scores
