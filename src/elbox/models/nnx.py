"""Reference VAEs in Flax NNX: `model(x) -> (recon_x, mean, logvar)`."""

from collections.abc import Sequence
from typing import Literal

import jax
from flax import nnx
from jaxtyping import Array, Float

from ._conv_layout import BURGESS_CHANNELS, BURGESS_HIDDEN, conv_layout
from ._nnx_conv import Conv as Conv
from ._nnx_conv import ConvTranspose as ConvTranspose
from ._reparameterize import reparameterize

OutputKind = Literal["logits", "sigmoid"]
"""What the decoder returns: `"logits"` (unbounded; for `loss_type="mse"` or
`"bce_logits"`) or `"sigmoid"` (probabilities in [0, 1]; for `loss_type="bce"`)."""


class MLPVAE(nnx.Module):
    """A multilayer-perceptron VAE on flat inputs.

    Encoder `features -> hidden -> (mean, logvar)`, decoder `latent -> hidden -> features`,
    ReLU between. The decoder returns logits (`output="logits"`, for `loss_type="mse"` or
    `"bce_logits"`) or probabilities (`output="sigmoid"`, for `"bce"`). The
    reparameterisation noise comes from the `noise` stream of `rngs` (its `default`
    stream when it has none).

    Args:
        features: the size of each flat input.
        hidden: the width of the hidden layers.
        latent: the dimension of the latent space.
        output: `"logits"` or `"sigmoid"` (probabilities).
        rngs: the parameter initialisers' and the noise's random streams.

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
        """Encode, draw `z = mean + exp(logvar / 2) * noise`, decode: `(recon_x, mean, logvar)`.

        The noise comes from the `noise` stream of the model's `rngs`, so each call draws
        new noise.
        """
        mean, logvar = self.encode(x)
        return self.decode(reparameterize(mean, logvar, self.rngs.noise())), mean, logvar


class ConvVAE(nnx.Module):
    """A convolutional VAE on channels-last images `(batch, height, width, channels)`.

    Encoder: one 4x4 convolution of stride 2 and padding 1 per entry of `channels`, each
    halving the height and width, with ReLU; flatten; a dense layer to `hidden` with ReLU;
    dense heads to the mean and log-variance. Decoder, mirrored: dense `latent -> hidden`
    and `hidden -> ` the flattened bottleneck, each with ReLU; reshape; 4x4 transposed
    convolutions of stride 2 (PyTorch's padding 1), each doubling the height and width,
    through `channels` in reverse order and then `channels[0]`, with ReLU; a final 3x3
    convolution (padding 1) to the image's channels. `output` and the noise are as in
    `MLPVAE`.

    The strided convolutions are elbox's [`Conv`][elbox.models.nnx.Conv] and
    [`ConvTranspose`][elbox.models.nnx.ConvTranspose]: Flax's layers with the same
    parameters, computed in the forms XLA's CPU backend runs fast. The model's state has
    the same paths and arrays as with Flax's own layers, so checkpoints of earlier
    releases load unchanged.

    Args:
        image_shape: `(height, width, channels)`; height and width divisible by
            `2**len(channels)`.
        channels: the encoder convolutions' output channels.
        hidden: the width of the dense layers.
        latent: the dimension of the latent space.
        output: `"logits"` or `"sigmoid"` (probabilities).
        rngs: the parameter initialisers' and the noise's random streams.

    Raises:
        ValueError: for an `image_shape` whose height or width is not divisible by
            `2**len(channels)`, or that is not three positive ints.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from elbox.models.nnx import ConvVAE
        >>> model = ConvVAE(
        ...     (8, 8, 1), channels=(4, 8), hidden=16, latent=2, rngs=nnx.Rngs(0)
        ... )
        >>> [a.shape for a in model(jnp.zeros((3, 8, 8, 1)))]
        [(3, 8, 8, 1), (3, 2), (3, 2)]
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        *,
        channels: Sequence[int] = (32, 64),
        hidden: int = 256,
        latent: int = 16,
        output: OutputKind = "logits",
        rngs: nnx.Rngs,
    ) -> None:
        widths, bottleneck = conv_layout(image_shape, channels)
        flat = bottleneck[0] * bottleneck[1] * bottleneck[2]
        encoder_in = (image_shape[2], *widths[:-1])
        self.encoder_convs = nnx.List(
            [
                Conv(i, o, (4, 4), (2, 2), padding=1, rngs=rngs)
                for i, o in zip(encoder_in, widths, strict=True)
            ]
        )
        self.encoder = nnx.Linear(flat, hidden, rngs=rngs)
        self.mean = nnx.Linear(hidden, latent, rngs=rngs)
        self.logvar = nnx.Linear(hidden, latent, rngs=rngs)
        self.decoder_hidden = nnx.Linear(latent, hidden, rngs=rngs)
        self.decoder_expand = nnx.Linear(hidden, flat, rngs=rngs)
        decoder_in = widths[::-1]
        decoder_out = (*widths[-2::-1], widths[0])
        # `transpose_kernel=True` with padding `4 - 1 - 1` on each side is PyTorch's (and
        # Equinox's) transposed convolution with padding 1: the gradient of the matching
        # strided convolution, with output size `2 * input size`.
        self.decoder_convs = nnx.List(
            [
                ConvTranspose(i, o, (4, 4), (2, 2), padding=2, transpose_kernel=True, rngs=rngs)
                for i, o in zip(decoder_in, decoder_out, strict=True)
            ]
        )
        self.decoder_out = nnx.Conv(widths[0], image_shape[2], (3, 3), padding=1, rngs=rngs)
        height, width, depth = image_shape
        self.image_shape = (height, width, depth)
        self.bottleneck = bottleneck
        self.output: OutputKind = output
        self.rngs = rngs

    def encode(
        self, x: Float[Array, "batch height width channels"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """The posterior's mean and log-variance."""
        if x.shape[1:] != self.image_shape:
            raise ValueError(
                f"this ConvVAE takes images of shape (batch, *{self.image_shape}); got {x.shape}"
            )
        h = x
        for conv in self.encoder_convs:
            h = jax.nn.relu(conv(h))
        h = jax.nn.relu(self.encoder(h.reshape(h.shape[0], -1)))
        return self.mean(h), self.logvar(h)

    def decode(
        self, z: Float[Array, "batch latent"]
    ) -> Float[Array, "batch {self.image_shape[0]} {self.image_shape[1]} {self.image_shape[2]}"]:
        """The decoder's output: logits or probabilities, by `output`."""
        h = jax.nn.relu(self.decoder_expand(jax.nn.relu(self.decoder_hidden(z))))
        h = h.reshape(z.shape[0], *self.bottleneck)
        for conv in self.decoder_convs:
            h = jax.nn.relu(conv(h))
        out = self.decoder_out(h)
        return jax.nn.sigmoid(out) if self.output == "sigmoid" else out

    def __call__(
        self, x: Float[Array, "batch height width channels"]
    ) -> tuple[
        Float[Array, "batch height width channels"],
        Float[Array, "batch latent"],
        Float[Array, "batch latent"],
    ]:
        """Encode, draw `z = mean + exp(logvar / 2) * noise`, decode: `(recon_x, mean, logvar)`.

        The noise comes from the `noise` stream of the model's `rngs`, so each call draws
        new noise.
        """
        mean, logvar = self.encode(x)
        return self.decode(reparameterize(mean, logvar, self.rngs.noise())), mean, logvar


class BurgessVAE(nnx.Module):
    """The convolutional VAE of the disentanglement literature.

    The architecture of Burgess et al. (2018) as `disentanglement_lib` (Locatello et al.,
    2019) trains it on 64x64 images: four 4x4 convolutions of stride 2 and padding 1 to
    32, 32, 64 and 64 channels with ReLU, a dense layer of 256 with ReLU and dense heads
    to the mean and log-variance; the decoder mirrors it, dense 256 and 1024 with ReLU,
    then four 4x4 transposed convolutions of stride 2 (to 64, 32, 32 channels with ReLU,
    and the image's channels). It is `ConvVAE(image_shape, channels=(32, 32, 64, 64),
    hidden=256)` without the last 32-channel transposed convolution at full resolution
    and the 3x3 output convolution: about a fifth of the cost per step (see the
    Performance guide). `output` and the noise are as in `MLPVAE`.

    Args:
        image_shape: `(height, width, channels)`, height and width divisible by 16;
            `(64, 64, channels)` in the literature.
        latent: the dimension of the latent space (10 in the literature).
        output: `"logits"` or `"sigmoid"` (probabilities).
        rngs: the parameter initialisers' and the noise's random streams.

    Raises:
        ValueError: for an `image_shape` whose height or width is not divisible by 16, or
            that is not three positive ints.

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> from elbox.models.nnx import BurgessVAE
        >>> model = BurgessVAE((64, 64, 1), latent=10, rngs=nnx.Rngs(0))
        >>> [a.shape for a in model(jnp.zeros((2, 64, 64, 1)))]
        [(2, 64, 64, 1), (2, 10), (2, 10)]
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (64, 64, 1),
        *,
        latent: int = 10,
        output: OutputKind = "logits",
        rngs: nnx.Rngs,
    ) -> None:
        widths, bottleneck = conv_layout(image_shape, BURGESS_CHANNELS)
        flat = bottleneck[0] * bottleneck[1] * bottleneck[2]
        encoder_in = (image_shape[2], *widths[:-1])
        self.encoder_convs = nnx.List(
            [
                Conv(i, o, (4, 4), (2, 2), padding=1, rngs=rngs)
                for i, o in zip(encoder_in, widths, strict=True)
            ]
        )
        self.encoder = nnx.Linear(flat, BURGESS_HIDDEN, rngs=rngs)
        self.mean = nnx.Linear(BURGESS_HIDDEN, latent, rngs=rngs)
        self.logvar = nnx.Linear(BURGESS_HIDDEN, latent, rngs=rngs)
        self.decoder_hidden = nnx.Linear(latent, BURGESS_HIDDEN, rngs=rngs)
        self.decoder_expand = nnx.Linear(BURGESS_HIDDEN, flat, rngs=rngs)
        decoder_in = widths[::-1]
        decoder_out = (*widths[-2::-1], image_shape[2])
        self.decoder_convs = nnx.List(
            [
                ConvTranspose(i, o, (4, 4), (2, 2), padding=2, transpose_kernel=True, rngs=rngs)
                for i, o in zip(decoder_in, decoder_out, strict=True)
            ]
        )
        height, width, depth = image_shape
        self.image_shape = (height, width, depth)
        self.bottleneck = bottleneck
        self.output: OutputKind = output
        self.rngs = rngs

    def encode(
        self, x: Float[Array, "batch height width channels"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """The posterior's mean and log-variance."""
        if x.shape[1:] != self.image_shape:
            raise ValueError(
                f"this BurgessVAE takes images of shape (batch, *{self.image_shape}); got {x.shape}"
            )
        h = x
        for conv in self.encoder_convs:
            h = jax.nn.relu(conv(h))
        h = jax.nn.relu(self.encoder(h.reshape(h.shape[0], -1)))
        return self.mean(h), self.logvar(h)

    def decode(
        self, z: Float[Array, "batch latent"]
    ) -> Float[Array, "batch {self.image_shape[0]} {self.image_shape[1]} {self.image_shape[2]}"]:
        """The decoder's output: logits or probabilities, by `output`."""
        h = jax.nn.relu(self.decoder_expand(jax.nn.relu(self.decoder_hidden(z))))
        h = h.reshape(z.shape[0], *self.bottleneck)
        *hidden_convs, last = self.decoder_convs
        for conv in hidden_convs:
            h = jax.nn.relu(conv(h))
        out = last(h)
        return jax.nn.sigmoid(out) if self.output == "sigmoid" else out

    def __call__(
        self, x: Float[Array, "batch height width channels"]
    ) -> tuple[
        Float[Array, "batch height width channels"],
        Float[Array, "batch latent"],
        Float[Array, "batch latent"],
    ]:
        """Encode, draw `z = mean + exp(logvar / 2) * noise`, decode: `(recon_x, mean, logvar)`.

        The noise comes from the `noise` stream of the model's `rngs`, so each call draws
        new noise.
        """
        mean, logvar = self.encode(x)
        return self.decode(reparameterize(mean, logvar, self.rngs.noise())), mean, logvar
