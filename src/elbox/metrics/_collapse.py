"""Posterior collapse, per latent dimension: the KL each one carries, and which are active."""

import jax.numpy as jnp
from beartype import beartype
from jaxtyping import Array, Bool, Float, jaxtyped

from .._custom_types import RealNumber
from ..objectives._kl import gaussian_kl

ACTIVE_THRESHOLD = 0.01
"""Burda et al.'s (2016) threshold on the variance of a dimension's posterior mean."""


@jaxtyped(typechecker=beartype)
def kl_per_dimension(
    means: Float[Array, "batch latent"], logvars: Float[Array, "batch latent"]
) -> Float[Array, " latent"]:
    """The KL divergence of each latent dimension from the prior, averaged over the data.

    `mean_x KL(q(z_j|x) || N(0, 1))`, in nats, from the posterior's means and
    log-variances (as `model.encode` or
    [`posterior_parameters`][elbox.metrics.posterior_parameters] returns them). A
    dimension whose KL is near 0 carries no information about x: it has collapsed to the
    prior. The values sum to the KL term of the ELBO.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox.metrics import kl_per_dimension
        >>> means = jnp.array([[1.0, 0.0], [-1.0, 0.0]])
        >>> kl_per_dimension(means, jnp.zeros((2, 2))).tolist()
        [0.5, 0.0]
    """
    return jnp.mean(gaussian_kl(means, logvars), axis=0)


@jaxtyped(typechecker=beartype)
def active_units(
    means: Float[Array, "batch latent"], threshold: RealNumber = ACTIVE_THRESHOLD
) -> Bool[Array, " latent"]:
    """Which latent dimensions are active: their posterior mean varies with x.

    Burda, Grosse and Salakhutdinov (2016, "Importance weighted autoencoders", sec. 5.2)
    call dimension j active when `Cov_x(E_q(z|x)[z_j]) > 0.01`: the variance over the
    data of its posterior mean exceeds the threshold. The variance is the population
    variance of `means[:, j]`. `int(active_units(means).sum())` is the number of active
    units.

    Args:
        means: the posterior means of the evaluated data, `(batch, latent)`.
        threshold: the variance above which a dimension is active.

    Returns:
        A boolean mask, `True` for each active dimension.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox.metrics import active_units
        >>> means = jnp.array([[1.0, 0.0, 0.05], [-1.0, 0.0, -0.05]])
        >>> active_units(means).tolist()
        [True, False, False]
    """
    return jnp.var(means, axis=0) > threshold
