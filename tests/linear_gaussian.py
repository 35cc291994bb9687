"""A linear-Gaussian VAE, whose exact posterior is known: for the tests of gradient
estimators."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from elbox import GaussianLikelihood

# p(z) = N(0, I), p(x|z) = N(W z + b, VARIANCE I); W's columns are orthogonal, so the
# exact posterior has a diagonal covariance, which the encoder can represent.
VARIANCE = 0.25
W = np.array([[1.0, 0.5], [1.0, -0.5], [0.0, 0.5]])
B = np.array([0.2, -0.1, 0.3])
LIKELIHOOD = GaussianLikelihood(variance=VARIANCE)
X = jnp.asarray([[0.5, -1.0, 0.2], [1.5, 0.3, -0.4], [-0.7, 0.1, 0.9]], jnp.float32)


class LinearGaussian(eqx.Module):
    """A linear-Gaussian VAE: a linear decoder, and an encoder linear in x with a fixed
    variance per latent dimension."""

    weight: Array
    bias: Array
    encoder_weight: Array
    encoder_bias: Array
    encoder_logvar: Array

    def encode(self, x: Array) -> tuple[Array, Array]:
        mean = x @ self.encoder_weight.T + self.encoder_bias[None]
        return mean, jnp.broadcast_to(self.encoder_logvar[None], mean.shape)

    def decode(self, z: Array) -> Array:
        return z @ self.weight.T + self.bias[None]


def exact_posterior_model() -> LinearGaussian:
    covariance = np.linalg.inv(np.eye(2) + W.T @ W / VARIANCE)
    assert np.allclose(covariance, np.diag(np.diag(covariance)))
    gain = covariance @ W.T / VARIANCE
    return LinearGaussian(
        weight=jnp.asarray(W, jnp.float32),
        bias=jnp.asarray(B, jnp.float32),
        encoder_weight=jnp.asarray(gain, jnp.float32),
        encoder_bias=jnp.asarray(-gain @ B, jnp.float32),
        encoder_logvar=jnp.asarray(np.log(np.diag(covariance)), jnp.float32),
    )


def off_posterior_model() -> LinearGaussian:
    exact = exact_posterior_model()
    moved: LinearGaussian = eqx.tree_at(
        lambda m: (m.encoder_weight, m.encoder_bias, m.encoder_logvar),
        exact,
        (
            exact.encoder_weight + 0.3,
            exact.encoder_bias - 0.2,
            exact.encoder_logvar + jnp.asarray([0.6, -0.4]),
        ),
    )
    return moved
