"""The Mutual Information Gap (Chen et al., 2018), as disentanglement_lib computes it."""

import numpy as np
from jaxtyping import ArrayLike, Integer, Real

from .._validation import checked_int
from ._checks import check_varying, checked_at_least, checked_factors, checked_latents, checked_pair
from ._utils import discrete_entropy, discrete_mutual_info, histogram_discretize


def mig(
    latents: Real[ArrayLike, "num_examples latent"],
    factors: Integer[ArrayLike, "num_examples num_factors"],
    *,
    num_bins: int = 20,
) -> float:
    """The Mutual Information Gap: how much better the best latent predicts each factor.

    Chen, Li, Grosse and Duvenaud (2018, "Isolating sources of disentanglement in
    variational autoencoders", eq. 6), as google-research/disentanglement_lib computes
    it (`evaluation/metrics/mig.py`, `_compute_mig`, with `utils._histogram_discretize`):

    1. each latent dimension is discretised into `num_bins` equal-width bins spanning
       its range (disentanglement_lib's default, 20);
    2. `m[i, k]` is the mutual information between discretised latent i and factor k,
       in nats, from their joint histogram (`sklearn.metrics.mutual_info_score`);
    3. for each factor, the gap between its largest and second largest `m[i, k]`,
       divided by the factor's entropy `H(v_k)`;
    4. the mean over factors.

    1 means each factor is captured by a single latent and by no other; 0 means the
    best two latents know the factor equally well (or not at all).

    Args:
        latents: the representation of each example, `(num_examples, latent)`: the
            posterior means, say. At least 2 dimensions.
        factors: the ground-truth factors of the same examples, integer codes,
            `(num_examples, num_factors)`; each factor must take at least two values.
        num_bins: the number of histogram bins per latent dimension.

    Returns:
        The MIG, between 0 and 1.

    Raises:
        ValueError: for arrays of the wrong shape or dtype, different numbers of rows,
            a factor that takes a single value, fewer than 2 latent dimensions, or
            `num_bins < 1`.

    Example:
        >>> import numpy as np
        >>> from elbox.metrics import mig
        >>> grid = np.meshgrid(np.arange(4), np.arange(5))
        >>> factors = np.stack(grid, -1).reshape(-1, 2)
        >>> round(mig(factors.astype(float), factors), 6)  # each latent is one factor
        1.0
    """
    values = checked_latents(latents, "latents")
    codes = checked_factors(factors, "factors")
    checked_pair(values, codes, ("latents", "factors"))
    check_varying(codes, "factors")
    checked_at_least(values.shape[1], 2, "latent dimensions (columns of latents)", "mig")
    bins = checked_int("", "num_bins", num_bins, 1)
    m = discrete_mutual_info(histogram_discretize(values, bins), codes)
    entropy = discrete_entropy(codes)
    ordered = np.sort(m, axis=0)[::-1]
    return float(np.mean((ordered[0] - ordered[1]) / entropy))
