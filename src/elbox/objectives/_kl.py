"""The Gaussian KL divergence to the standard normal prior, and the free-bits constraint."""

import jax.numpy as jnp
from beartype import beartype
from jaxtyping import Array, Float, jaxtyped

from .._custom_types import FreeBitsMode, RealNumber


@jaxtyped(typechecker=beartype)
def gaussian_kl(
    mean: Float[Array, "batch latent"], logvar: Float[Array, "batch latent"]
) -> Float[Array, "batch latent"]:
    """KL(N(mean, exp(logvar)) || N(0, 1)) for each sample and latent dimension.

    `-0.5 * (1 + logvar - mean**2 - exp(logvar))`, in nats.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import gaussian_kl
        >>> gaussian_kl(jnp.array([[1.0, 2.0]]), jnp.zeros((1, 2))).tolist()
        [[0.5, 2.0]]
    """
    return -0.5 * (1.0 + logvar - mean**2 - jnp.exp(logvar))


@jaxtyped(typechecker=beartype)
def apply_free_bits(kl: Float[Array, "*dims"], free_bits: RealNumber) -> Float[Array, "*dims"]:
    """Clamp KL values from below at `free_bits` nats: `max(kl, free_bits)`.

    With `free_bits <= 0` the KL is returned unchanged.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import apply_free_bits
        >>> apply_free_bits(jnp.array([0.1, 0.9]), 0.5).tolist()
        [0.5, 0.8999999761581421]
    """
    if free_bits <= 0:
        return kl
    return jnp.maximum(kl, free_bits)


@jaxtyped(typechecker=beartype)
def kl_loss(
    mean: Float[Array, "batch latent"],
    logvar: Float[Array, "batch latent"],
    *,
    free_bits: RealNumber = 0.0,
    free_bits_mode: FreeBitsMode = "per_sample",
) -> tuple[Float[Array, ""], Float[Array, " batch"]]:
    """The KL term of the ELBO, with free bits: `(kl_loss, kl_per_sample)`.

    The KL per dimension is summed over the latent axis and averaged over the batch.
    Free bits (`free_bits > 0`) clamp it from below first:

    - `"per_sample"`: `max(kl[i, j], free_bits)` for every sample `i` and dimension `j`;
      `kl_per_sample` is the clamped sum and `kl_loss` its mean.
    - `"batch"`: `max(mean_i kl[i, j], free_bits)` for each dimension `j`, as in Kingma
      et al. (2016); `kl_per_sample` is the unclamped sum, since the clamp acts on the batch.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import kl_loss
        >>> mean, logvar = jnp.zeros((2, 3)), jnp.zeros((2, 3))
        >>> loss, per_sample = kl_loss(mean, logvar, free_bits=0.5)
        >>> float(loss), per_sample.tolist()
        (1.5, [1.5, 1.5])
    """
    kl = gaussian_kl(mean, logvar)
    if free_bits_mode == "batch":
        per_dimension = apply_free_bits(jnp.mean(kl, axis=0), free_bits)
        return jnp.sum(per_dimension), jnp.sum(kl, axis=-1)
    per_sample = jnp.sum(apply_free_bits(kl, free_bits), axis=-1)
    return jnp.mean(per_sample), per_sample
