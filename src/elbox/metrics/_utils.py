"""Histogram discretisation, discrete mutual information and entropy, as in disentanglement_lib.

google-research/disentanglement_lib, `disentanglement_lib/evaluation/metrics/utils.py`:
`_histogram_discretize`, `discrete_mutual_info` and `discrete_entropy`. There the arrays
are `(dim, num_examples)`; here they are `(num_examples, dim)`.
"""

from typing import Any

import numpy as np
import numpy.typing as npt


def histogram_discretize(latents: npt.NDArray[np.float64], num_bins: int) -> npt.NDArray[np.int64]:
    """Each column's bin among `num_bins` equal-width bins spanning its range (1 to num_bins).

    `np.digitize(column, np.histogram(column, num_bins)[1][:-1])`, as `_histogram_discretize`.
    """
    codes = np.empty(latents.shape, np.int64)
    for column in range(latents.shape[1]):
        values = latents[:, column]
        codes[:, column] = np.digitize(values, np.histogram(values, num_bins)[1][:-1])
    return codes


def _dense_codes(values: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int64], int]:
    unique, inverse = np.unique(values, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), unique.size


def discrete_mutual_info(
    codes: npt.NDArray[np.integer[Any]], factors: npt.NDArray[np.integer[Any]]
) -> npt.NDArray[np.float64]:
    """The mutual information, in nats, of every column of `codes` with every factor.

    `m[i, j] = sklearn.metrics.mutual_info_score(factors[:, j], codes[:, i])`: the plug-in
    estimate from the joint histogram, clipped at 0 as scikit-learn does. Shape
    `(codes.shape[1], factors.shape[1])`.
    """
    num = codes.shape[0]
    dense_factors = [_dense_codes(factors[:, j]) for j in range(factors.shape[1])]
    m = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(codes.shape[1]):
        code, code_values = _dense_codes(codes[:, i])
        p_code = np.bincount(code, minlength=code_values) / num
        for j, (factor, factor_values) in enumerate(dense_factors):
            joint = np.bincount(
                code * factor_values + factor, minlength=code_values * factor_values
            )
            p_joint = joint.reshape(code_values, factor_values) / num
            p_factor = p_joint.sum(axis=0)
            rows, cols = np.nonzero(p_joint)
            p = p_joint[rows, cols]
            mi = np.sum(p * (np.log(p) - np.log(p_code[rows]) - np.log(p_factor[cols])))
            m[i, j] = max(mi, 0.0)
    return m


def discrete_entropy(factors: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.float64]:
    """The entropy, in nats, of each factor's empirical distribution (`discrete_entropy`)."""
    entropy = np.zeros(factors.shape[1])
    for j in range(factors.shape[1]):
        code, values = _dense_codes(factors[:, j])
        p = np.bincount(code, minlength=values) / code.size
        p = p[p > 0]
        entropy[j] = -np.sum(p * np.log(p))
    return entropy
