"""Reference VAEs in Equinox: `model(x, *, key) -> (recon_x, mean, logvar)`."""

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

OutputKind = Literal["logits", "sigmoid"]


class MLPVAE(eqx.Module):
    """A multilayer-perceptron VAE on flat inputs; the Equinox twin of
    `elbox.models.nnx.MLPVAE`, with the same layers and parameter count.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from elbox.models.equinox import MLPVAE
        >>> model = MLPVAE(64, hidden=32, latent=4, key=jax.random.key(0))
        >>> [a.shape for a in model(jnp.zeros((2, 64)), key=jax.random.key(1))]
        [(2, 64), (2, 4), (2, 4)]
    """

    encoder: eqx.nn.Linear
    mean: eqx.nn.Linear
    logvar: eqx.nn.Linear
    decoder_hidden: eqx.nn.Linear
    decoder_out: eqx.nn.Linear
    output: OutputKind = eqx.field(static=True)

    def __init__(
        self,
        features: int,
        *,
        hidden: int = 256,
        latent: int = 16,
        output: OutputKind = "logits",
        key: PRNGKeyArray,
    ) -> None:
        keys = jax.random.split(key, 5)
        self.encoder = eqx.nn.Linear(features, hidden, key=keys[0])
        self.mean = eqx.nn.Linear(hidden, latent, key=keys[1])
        self.logvar = eqx.nn.Linear(hidden, latent, key=keys[2])
        self.decoder_hidden = eqx.nn.Linear(latent, hidden, key=keys[3])
        self.decoder_out = eqx.nn.Linear(hidden, features, key=keys[4])
        self.output = output

    def encode(
        self, x: Float[Array, "batch features"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """The posterior's mean and log-variance."""
        h = jax.nn.relu(jax.vmap(self.encoder)(x))
        return jax.vmap(self.mean)(h), jax.vmap(self.logvar)(h)

    def decode(self, z: Float[Array, "batch latent"]) -> Float[Array, "batch features"]:
        """The decoder's output: logits or probabilities, by `output`."""
        out = jax.vmap(self.decoder_out)(jax.nn.relu(jax.vmap(self.decoder_hidden)(z)))
        return jax.nn.sigmoid(out) if self.output == "sigmoid" else out

    def __call__(
        self, x: Float[Array, "batch features"], *, key: PRNGKeyArray
    ) -> tuple[
        Float[Array, "batch features"], Float[Array, "batch latent"], Float[Array, "batch latent"]
    ]:
        mean, logvar = self.encode(x)
        noise = jax.random.normal(key, mean.shape, dtype=mean.dtype)
        z = mean + jnp.exp(0.5 * logvar) * noise
        return self.decode(z), mean, logvar
