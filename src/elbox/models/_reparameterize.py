"""The reparameterisation trick shared by every reference model."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


def reparameterize(
    mean: Float[Array, "batch latent"], logvar: Float[Array, "batch latent"], key: PRNGKeyArray
) -> Float[Array, "batch latent"]:
    """`z = mean + exp(logvar / 2) * noise`, with standard-normal noise drawn from `key`."""
    noise = jax.random.normal(key, mean.shape, dtype=mean.dtype)
    return mean + jnp.exp(0.5 * logvar) * noise
