"""Reference VAEs in Flax NNX: `model(x) -> (recon_x, mean, logvar)`."""

from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from .._decoder_outputs import DecoderOutputs
from ._conv_layout import BURGESS_CHANNELS, BURGESS_HIDDEN, conv_layout
from ._decoder_head import checked_decoder_outputs, shared_shape, with_shared_block
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

    For a likelihood that reads more than one value per data value, `decoder_outputs`
    (the likelihood's `decoder_outputs`) widens the last layer to
    `features * decoder_outputs.per_value` outputs; a shared last block (a learned global
    or per-feature scale) is the model's `log_scale` parameter, of shape `()` or
    `(features,)`, initialised to 0 and trained with the rest.

    Args:
        features: the size of each flat input.
        hidden: the width of the hidden layers.
        latent: the dimension of the latent space.
        output: `"logits"` or `"sigmoid"` (probabilities).
        decoder_outputs: what the decoder returns per data value (one value by default).
        rngs: the parameter initialisers' and the noise's random streams.

    Raises:
        ValueError: for `output="sigmoid"` with more than one value per data value.

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
        decoder_outputs: DecoderOutputs = DecoderOutputs(),
        rngs: nnx.Rngs,
    ) -> None:
        outputs = checked_decoder_outputs(decoder_outputs, output)
        self.encoder = nnx.Linear(features, hidden, rngs=rngs)
        self.mean = nnx.Linear(hidden, latent, rngs=rngs)
        self.logvar = nnx.Linear(hidden, latent, rngs=rngs)
        self.decoder_hidden = nnx.Linear(latent, hidden, rngs=rngs)
        self.decoder_out = nnx.Linear(hidden, features * outputs.computed, rngs=rngs)
        self.log_scale = (
            None
            if outputs.shared is None
            else nnx.Param(jnp.zeros(shared_shape(outputs, (features,))))
        )
        self.output: OutputKind = output
        self.decoder_outputs = outputs
        self.features = features
        self.rngs = rngs

    def encode(
        self, x: Float[Array, "batch features"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """The posterior's mean and log-variance."""
        h = jax.nn.relu(self.encoder(x))
        return self.mean(h), self.logvar(h)

    def decode(self, z: Float[Array, "batch latent"]) -> Float[Array, "batch outputs"]:
        """The decoder's output: logits or probabilities, by `output`, and the learned
        block of `decoder_outputs` appended."""
        out = self.decoder_out(jax.nn.relu(self.decoder_hidden(z)))
        shared = None if self.log_scale is None else self.log_scale[...]
        out = with_shared_block(out, shared, (self.features,))
        return jax.nn.sigmoid(out) if self.output == "sigmoid" else out

    def __call__(
        self, x: Float[Array, "batch features"]
    ) -> tuple[
        Float[Array, "batch outputs"], Float[Array, "batch latent"], Float[Array, "batch latent"]
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
    convolution (padding 1) to the image's channels. `output`, `decoder_outputs` and the
    noise are as in `MLPVAE` (the final convolution returns the image's channels times
    `decoder_outputs.per_value`; a per-feature `log_scale` has the image's shape).

    The convolutions are elbox's [`Conv`][elbox.models.nnx.Conv] and
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
        decoder_outputs: what the decoder returns per data value (one value by default).
        rngs: the parameter initialisers' and the noise's random streams.

    Raises:
        ValueError: for an `image_shape` whose height or width is not divisible by
            `2**len(channels)`, or that is not three positive ints; for
            `output="sigmoid"` with more than one value per data value.

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
        decoder_outputs: DecoderOutputs = DecoderOutputs(),
        rngs: nnx.Rngs,
    ) -> None:
        outputs = checked_decoder_outputs(decoder_outputs, output)
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
        self.decoder_out = Conv(
            widths[0], image_shape[2] * outputs.computed, (3, 3), padding=1, rngs=rngs
        )
        height, width, depth = image_shape
        self.image_shape = (height, width, depth)
        self.log_scale = (
            None
            if outputs.shared is None
            else nnx.Param(jnp.zeros(shared_shape(outputs, self.image_shape)))
        )
        self.bottleneck = bottleneck
        self.output: OutputKind = output
        self.decoder_outputs = outputs
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
    ) -> Float[Array, "batch {self.image_shape[0]} {self.image_shape[1]} outputs"]:
        """The decoder's output: logits or probabilities, by `output`, and the learned
        block of `decoder_outputs` appended."""
        h = jax.nn.relu(self.decoder_expand(jax.nn.relu(self.decoder_hidden(z))))
        h = h.reshape(z.shape[0], *self.bottleneck)
        for conv in self.decoder_convs:
            h = jax.nn.relu(conv(h))
        shared = None if self.log_scale is None else self.log_scale[...]
        out = with_shared_block(self.decoder_out(h), shared, self.image_shape)
        return jax.nn.sigmoid(out) if self.output == "sigmoid" else out

    def __call__(
        self, x: Float[Array, "batch height width channels"]
    ) -> tuple[
        Float[Array, "batch height width outputs"],
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
    and the 3x3 output convolution: a fraction of the cost per step (see the Performance
    guide). `output`, `decoder_outputs` and the noise are as in `ConvVAE` (the last
    transposed convolution returns the image's channels times
    `decoder_outputs.per_value`).

    Args:
        image_shape: `(height, width, channels)`, height and width divisible by 16;
            `(64, 64, channels)` in the literature.
        latent: the dimension of the latent space (10 in the literature).
        output: `"logits"` or `"sigmoid"` (probabilities).
        decoder_outputs: what the decoder returns per data value (one value by default).
        rngs: the parameter initialisers' and the noise's random streams.

    Raises:
        ValueError: for an `image_shape` whose height or width is not divisible by 16, or
            that is not three positive ints; for `output="sigmoid"` with more than one
            value per data value.

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
        decoder_outputs: DecoderOutputs = DecoderOutputs(),
        rngs: nnx.Rngs,
    ) -> None:
        outputs = checked_decoder_outputs(decoder_outputs, output)
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
        decoder_out = (*widths[-2::-1], image_shape[2] * outputs.computed)
        self.decoder_convs = nnx.List(
            [
                ConvTranspose(i, o, (4, 4), (2, 2), padding=2, transpose_kernel=True, rngs=rngs)
                for i, o in zip(decoder_in, decoder_out, strict=True)
            ]
        )
        height, width, depth = image_shape
        self.image_shape = (height, width, depth)
        self.log_scale = (
            None
            if outputs.shared is None
            else nnx.Param(jnp.zeros(shared_shape(outputs, self.image_shape)))
        )
        self.bottleneck = bottleneck
        self.output: OutputKind = output
        self.decoder_outputs = outputs
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
    ) -> Float[Array, "batch {self.image_shape[0]} {self.image_shape[1]} outputs"]:
        """The decoder's output: logits or probabilities, by `output`, and the learned
        block of `decoder_outputs` appended."""
        h = jax.nn.relu(self.decoder_expand(jax.nn.relu(self.decoder_hidden(z))))
        h = h.reshape(z.shape[0], *self.bottleneck)
        *hidden_convs, last = self.decoder_convs
        for conv in hidden_convs:
            h = jax.nn.relu(conv(h))
        shared = None if self.log_scale is None else self.log_scale[...]
        out = with_shared_block(last(h), shared, self.image_shape)
        return jax.nn.sigmoid(out) if self.output == "sigmoid" else out

    def __call__(
        self, x: Float[Array, "batch height width channels"]
    ) -> tuple[
        Float[Array, "batch height width outputs"],
        Float[Array, "batch latent"],
        Float[Array, "batch latent"],
    ]:
        """Encode, draw `z = mean + exp(logvar / 2) * noise`, decode: `(recon_x, mean, logvar)`.

        The noise comes from the `noise` stream of the model's `rngs`, so each call draws
        new noise.
        """
        mean, logvar = self.encode(x)
        return self.decode(reparameterize(mean, logvar, self.rngs.noise())), mean, logvar
