"""The modularity score (Ridgeway and Mozer, 2018), as disentanglement_lib computes it."""

import numpy as np
from jaxtyping import ArrayLike, Integer, Real

from .._validation import checked_int
from ._checks import check_varying, checked_at_least, checked_factors, checked_latents, checked_pair
from ._utils import discrete_mutual_info, histogram_discretize


def modularity(
    latents: Real[ArrayLike, "num_examples latent"],
    factors: Integer[ArrayLike, "num_examples num_factors"],
    *,
    num_bins: int = 20,
) -> float:
    """The modularity score: whether each latent dimension depends on at most one factor.

    Ridgeway and Mozer (2018, "Learning deep disentangled embeddings with the F-statistic
    loss", sec. 3), as google-research/disentanglement_lib computes it
    (`evaluation/metrics/modularity_explicitness.py`, `compute_modularity_explicitness`
    and `modularity`, with `utils._histogram_discretize`):

    1. `m[i, k]`: the mutual information between latent i, discretised into `num_bins`
       equal-width bins (default 20), and factor k, in nats;
    2. for each latent, with `theta_i = max_k m[i, k]`,
       `delta_i = sum_{k != argmax} m[i, k]**2 / (theta_i**2 * (num_factors - 1))`,
       and its modularity is `1 - delta_i` (0 for a latent that shares no information
       with any factor);
    3. the mean over latents.

    1 means every latent carries information about a single factor (or none). The
    explicitness score that disentanglement_lib computes alongside is not included.

    Args:
        latents: the representation of each example, `(num_examples, latent)`.
        factors: the ground-truth factors of the same examples, integer codes,
            `(num_examples, num_factors)`; at least 2 factors, each taking at least two
            values.
        num_bins: the number of histogram bins per latent dimension.

    Returns:
        The modularity score, between 0 and 1.

    Raises:
        ValueError: for arrays of the wrong shape or dtype, different numbers of rows,
            a factor that takes a single value, fewer than 2 factors, or `num_bins < 1`.

    Example:
        >>> import numpy as np
        >>> from elbox.metrics import modularity
        >>> grid = np.meshgrid(np.arange(4), np.arange(5))
        >>> factors = np.stack(grid, -1).reshape(-1, 2)
        >>> round(modularity(factors.astype(float), factors), 6)
        1.0
    """
    values = checked_latents(latents, "latents")
    codes = checked_factors(factors, "factors")
    checked_pair(values, codes, ("latents", "factors"))
    check_varying(codes, "factors")
    checked_at_least(codes.shape[1], 2, "factors (columns of factors)", "modularity")
    bins = checked_int("", "num_bins", num_bins, 1)
    squared = discrete_mutual_info(histogram_discretize(values, bins), codes) ** 2
    largest = np.max(squared, axis=1)
    spread = np.sum(squared, axis=1) - largest
    informative = largest > 0
    # A latent that shares no information with any factor scores 0, as in the reference
    # (which divides 0 by 0 there and then overwrites the result).
    safe = np.where(informative, largest, 1.0) * (squared.shape[1] - 1.0)
    return float(np.mean(np.where(informative, 1.0 - spread / safe, 0.0)))
