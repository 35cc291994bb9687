"""Reference VAEs in Flax NNX: `model(x) -> (recon_x, mean, logvar)`."""

from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

OutputKind = Literal["logits", "sigmoid"]


class MLPVAE(nnx.Module):
    """A multilayer-perceptron VAE on flat inputs.

    Encoder `features -> hidden -> (mean, logvar)`, decoder `latent -> hidden -> features`,
    ReLU between. The decoder returns logits (`output="logits"`, for `loss_type="mse"` or
    `"bce_logits"`) or probabilities (`output="sigmoid"`, for `"bce"`). The
    reparameterisation noise comes from the `noise` stream of `rngs` (its `default`
    stream when it has none).

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from elbox.models.nnx import MLPVAE
        >>> model = MLPVAE(64, hidden=32, latent=4, rngs=nnx.Rngs(0))
        >>> [a.shape for a in model(jnp.zeros((2, 64)))]
        [(2, 64), (2, 4), (2, 4)]
    """

    def __init__(
        self,
        features: int,
        *,
        hidden: int = 256,
        latent: int = 16,
        output: OutputKind = "logits",
        rngs: nnx.Rngs,
    ) -> None:
        self.encoder = nnx.Linear(features, hidden, rngs=rngs)
        self.mean = nnx.Linear(hidden, latent, rngs=rngs)
        self.logvar = nnx.Linear(hidden, latent, rngs=rngs)
        self.decoder_hidden = nnx.Linear(latent, hidden, rngs=rngs)
        self.decoder_out = nnx.Linear(hidden, features, rngs=rngs)
        self.output: OutputKind = output
        self.rngs = rngs

    def encode(
        self, x: Float[Array, "batch features"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """The posterior's mean and log-variance."""
        h = jax.nn.relu(self.encoder(x))
        return self.mean(h), self.logvar(h)

    def decode(self, z: Float[Array, "batch latent"]) -> Float[Array, "batch features"]:
        """The decoder's output: logits or probabilities, by `output`."""
        out = self.decoder_out(jax.nn.relu(self.decoder_hidden(z)))
        return jax.nn.sigmoid(out) if self.output == "sigmoid" else out

    def __call__(
        self, x: Float[Array, "batch features"]
    ) -> tuple[
        Float[Array, "batch features"], Float[Array, "batch latent"], Float[Array, "batch latent"]
    ]:
        mean, logvar = self.encode(x)
        noise = jax.random.normal(self.rngs.noise(), mean.shape, dtype=mean.dtype)
        z = mean + jnp.exp(0.5 * logvar) * noise
        return self.decode(z), mean, logvar
