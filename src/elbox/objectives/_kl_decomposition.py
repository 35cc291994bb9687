"""The KL term split into index-code mutual information, total correlation and dimension-wise KL.

Chen et al. (2018), "Isolating Sources of Disentanglement in Variational Autoencoders",
decompose the batch average of `KL(q(z|x) || p(z))` as

    E[log q(z|x) - log p(z)]
      = E[log q(z|x) - log q(z)]                  index-code mutual information
      + E[log q(z) - sum_d log q(z_d)]            total correlation
      + E[sum_d log q(z_d) - log p(z_d)]          dimension-wise KL

where `q(z)` is the aggregate posterior, the average of `q(z|x)` over the data, and
`q(z_d)` its marginals. The expectations are over `x` and `z ~ q(z|x)`: on a batch, the
latent codes drawn for it.
"""

import math
from typing import NamedTuple

import jax.numpy as jnp
from beartype import beartype
from jax.scipy.special import logsumexp
from jaxtyping import Array, Float, jaxtyped

from .._validation import checked_int

_LOG_2PI = math.log(2.0 * math.pi)


def _log_normal(
    z: Float[Array, "*#shape"], mean: Float[Array, "*#shape"], logvar: Float[Array, "*#shape"]
) -> Float[Array, "..."]:
    return -0.5 * ((z - mean) ** 2 * jnp.exp(-logvar) + logvar + _LOG_2PI)


@jaxtyped(typechecker=beartype)
def gaussian_log_density(
    z: Float[Array, "*#shape"], mean: Float[Array, "*#shape"], logvar: Float[Array, "*#shape"]
) -> Float[Array, "..."]:
    """`log N(z; mean, exp(logvar))` element by element, the arguments broadcast together.

    `-0.5 * ((z - mean)**2 * exp(-logvar) + logvar + log(2 pi))`, in nats; the
    `gaussian_log_density` of disentanglement_lib (`methods/unsupervised/vae.py`).

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import gaussian_log_density
        >>> zero = jnp.zeros(())
        >>> round(float(gaussian_log_density(zero, zero, zero)), 4)
        -0.9189
    """
    return _log_normal(z, mean, logvar)


class KLDecomposition(NamedTuple):
    """The three parts of the sampled KL on a batch (see `kl_decomposition`).

    Their sum is the sampled estimate of the KL, the batch mean of
    `log q(z|x) - log p(z)` at the drawn codes `z`.

    Attributes:
        mutual_info: the index-code mutual information `E[log q(z|x) - log q(z)]`.
        total_correlation: `E[log q(z) - sum_d log q(z_d)]`, the KL from the aggregate
            posterior to the product of its marginals.
        dimension_kl: the dimension-wise KL `E[sum_d log q(z_d) - log p(z_d)]`.
    """

    mutual_info: Float[Array, ""]
    total_correlation: Float[Array, ""]
    dimension_kl: Float[Array, ""]


@jaxtyped(typechecker=beartype)
def kl_decomposition(
    z: Float[Array, "batch latent"],
    mean: Float[Array, "batch latent"],
    logvar: Float[Array, "batch latent"],
    *,
    dataset_size: int | None = None,
) -> KLDecomposition:
    """Split the sampled KL of a batch into mutual information, total correlation and
    dimension-wise KL, by minibatch-weighted sampling (Chen et al. 2018).

    Sample `i` of the batch has the posterior `q(z|x_i) = N(mean_i, exp(logvar_i))` and the
    drawn code `z_i`. The densities of the aggregate posterior and of its marginals at `z_i`
    are estimated from the `M` posteriors of the batch:

        log q(z_i)   ~ logsumexp_j log q(z_i | x_j)   - log(N * M)
        log q(z_id)  ~ logsumexp_j log q(z_id | x_j)  - log(N * M)

    and the three parts are batch means of the differences of `log q(z_i|x_i)`,
    `log q(z_i)`, `sum_d log q(z_id)` and the prior's `log p(z_i)` (see `KLDecomposition`).
    They telescope, so their sum is exactly the sampled KL `mean_i [log q(z_i|x_i) -
    log p(z_i)]`, whatever the constant: it matches the analytic KL in expectation over the
    codes, not on every batch.

    The constant `log(N * M)` moves `N * M` from the parts' values into
    `mutual_info` (`+ log(N M)`), `total_correlation` (`+ (D - 1) log(N M)` for `D` latent
    dimensions) and `dimension_kl` (`- D log(N M)`); it changes no gradient.

    - `dataset_size=None` (the default) takes `N = 1`: the aggregate posterior of the batch
      itself, `(1/M) sum_j q(z|x_j)`. Its total correlation is close to 0 when the codes are
      independent across dimensions and its mutual information lies below `log M`.
    - `dataset_size=N` is Chen et al.'s minibatch-weighted sampling for a data set of `N`
      examples (their equation for `E[log q(z)]`, with the `log(N M)` correction).

    disentanglement_lib's `total_correlation` (`methods/unsupervised/vae.py`) computes the
    same logsumexps and drops the constant, so its total correlation is this one's minus
    `(D - 1) log(N M)`: equal in gradient, shifted in value. It returns only the total
    correlation.

    Args:
        z: the codes drawn from the posteriors, one per sample.
        mean: the posteriors' means.
        logvar: the posteriors' log-variances.
        dataset_size: the number of examples `N` of the data set the batch is drawn from,
            or None for the batch alone.

    Returns:
        `KLDecomposition(mutual_info, total_correlation, dimension_kl)`, scalars in nats.

    Raises:
        ValueError: for a `dataset_size` below 1.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from elbox import kl_decomposition
        >>> mean = jax.random.normal(jax.random.key(0), (256, 2))
        >>> logvar = jnp.zeros((256, 2))
        >>> z = mean + jax.random.normal(jax.random.key(1), (256, 2))
        >>> parts = kl_decomposition(z, mean, logvar)
        >>> abs(float(parts.total_correlation)) < 0.05  # independent dimensions
        True
    """
    log_nm = math.log(z.shape[0])
    if dataset_size is not None:
        log_nm += math.log(checked_int("", "dataset_size", dataset_size, 1))
    # pairwise[i, j, d] = log q(z_id | x_j): code i under the posterior of sample j.
    pairwise = _log_normal(z[:, None, :], mean[None, :, :], logvar[None, :, :])
    log_q_z_given_x = jnp.sum(_log_normal(z, mean, logvar), axis=1)
    log_p_z = jnp.sum(-0.5 * (z**2 + _LOG_2PI), axis=1)
    log_q_z = logsumexp(jnp.sum(pairwise, axis=2), axis=1) - log_nm
    log_q_marginals = jnp.sum(logsumexp(pairwise, axis=1) - log_nm, axis=1)
    return KLDecomposition(
        mutual_info=jnp.mean(log_q_z_given_x - log_q_z),
        total_correlation=jnp.mean(log_q_z - log_q_marginals),
        dimension_kl=jnp.mean(log_q_marginals - log_p_z),
    )
