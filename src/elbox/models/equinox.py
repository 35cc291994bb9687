"""Reference VAEs in Equinox: `model(x, *, key) -> (recon_x, mean, logvar)`.

`BatchNormMLPVAE` is stateful: `model(x, state, *, key) -> ((recon_x, mean, logvar),
state)`, made with `eqx.nn.make_with_state` and trained as `elbox.WithState(model, state)`.
"""

from collections.abc import Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._decoder_outputs import DecoderOutputs
from ._conv_layout import conv_layout
from ._decoder_head import checked_decoder_outputs, shared_shape, with_shared_block
from ._reparameterize import reparameterize

OutputKind = Literal["logits", "sigmoid"]
"""What the decoder returns: `"logits"` (unbounded; for `loss_type="mse"` or
`"bce_logits"`) or `"sigmoid"` (probabilities in [0, 1]; for `loss_type="bce"`)."""


class MLPVAE(eqx.Module):
    """A multilayer-perceptron VAE on flat inputs, in Equinox.

    The twin of `elbox.models.nnx.MLPVAE`, with the same layers and parameter count:
    encoder `features -> hidden -> (mean, logvar)`, decoder `latent -> hidden -> features`,
    ReLU between. The decoder returns logits or probabilities, by `output`, and, for a
    likelihood that reads more values, `decoder_outputs` as in the NNX twin (a shared
    block is the `log_scale` field, of shape `()` or `(features,)`, initialised to 0).

    Args:
        features: the size of each flat input.
        hidden: the width of the hidden layers.
        latent: the dimension of the latent space.
        output: `"logits"` or `"sigmoid"` (probabilities).
        decoder_outputs: what the decoder returns per data value (one value by default).
        key: the parameter initialisers' key.

    Raises:
        ValueError: for `output="sigmoid"` with more than one value per data value.

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
    log_scale: Array | None
    output: OutputKind = eqx.field(static=True)
    decoder_outputs: DecoderOutputs = eqx.field(static=True)
    features: int = eqx.field(static=True)

    def __init__(
        self,
        features: int,
        *,
        hidden: int = 256,
        latent: int = 16,
        output: OutputKind = "logits",
        decoder_outputs: DecoderOutputs = DecoderOutputs(),
        key: PRNGKeyArray,
    ) -> None:
        outputs = checked_decoder_outputs(decoder_outputs, output)
        keys = jax.random.split(key, 5)
        self.encoder = eqx.nn.Linear(features, hidden, key=keys[0])
        self.mean = eqx.nn.Linear(hidden, latent, key=keys[1])
        self.logvar = eqx.nn.Linear(hidden, latent, key=keys[2])
        self.decoder_hidden = eqx.nn.Linear(latent, hidden, key=keys[3])
        self.decoder_out = eqx.nn.Linear(hidden, features * outputs.computed, key=keys[4])
        self.log_scale = (
            None if outputs.shared is None else jnp.zeros(shared_shape(outputs, (features,)))
        )
        self.output = output
        self.decoder_outputs = outputs
        self.features = features

    def encode(
        self, x: Float[Array, "batch features"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """The posterior's mean and log-variance."""
        h = jax.nn.relu(jax.vmap(self.encoder)(x))
        return jax.vmap(self.mean)(h), jax.vmap(self.logvar)(h)

    def decode(self, z: Float[Array, "batch latent"]) -> Float[Array, "batch outputs"]:
        """The decoder's output: logits or probabilities, by `output`, and the learned
        block of `decoder_outputs` appended."""
        out = jax.vmap(self.decoder_out)(jax.nn.relu(jax.vmap(self.decoder_hidden)(z)))
        out = with_shared_block(out, self.log_scale, (self.features,))
        return jax.nn.sigmoid(out) if self.output == "sigmoid" else out

    def __call__(
        self, x: Float[Array, "batch features"], *, key: PRNGKeyArray
    ) -> tuple[
        Float[Array, "batch outputs"], Float[Array, "batch latent"], Float[Array, "batch latent"]
    ]:
        """Encode, draw `z = mean + exp(logvar / 2) * noise`, decode: `(recon_x, mean, logvar)`.

        The noise is drawn from `key`; `VAETrainer` passes a new key at every step.
        """
        mean, logvar = self.encode(x)
        return self.decode(reparameterize(mean, logvar, key)), mean, logvar


BATCH_AXIS = "batch"
"""The name of the vmapped batch axis over which `BatchNormMLPVAE` normalises."""


class BatchNormMLPVAE(eqx.Module):
    """`MLPVAE` with batch normalisation after each hidden layer: a stateful Equinox model.

    Encoder `features -> hidden -> BatchNorm -> ReLU -> (mean, logvar)`, decoder
    `latent -> hidden -> BatchNorm -> ReLU -> features`. Equinox keeps BatchNorm's running
    statistics outside the model, in an `eqx.nn.State`: make the model with
    `eqx.nn.make_with_state(BatchNormMLPVAE)(...)`, which returns the model and its
    state, and train the pair as `elbox.WithState(model, state)`. The model follows the
    convention of stateful VAEs: `model(x, state, *, key) -> ((recon_x, mean, logvar),
    state)`, `encode(x, state) -> ((mean, logvar), state)` and `decode(z, state) ->
    (output, state)`.

    In training, each BatchNorm (`eqx.nn.BatchNorm`, `mode="batch"`, momentum 0.99)
    normalises with the statistics of the batch and updates its running statistics; in
    inference mode (`eqx.nn.inference_mode`, as elbox evaluates) it normalises with the
    running statistics, so each example's output depends on that example alone.

    Args:
        features: the size of each flat input.
        hidden: the width of the hidden layers.
        latent: the dimension of the latent space.
        output: `"logits"` or `"sigmoid"` (probabilities).
        key: the parameter initialisers' key.

    Example:
        >>> import equinox as eqx, jax, jax.numpy as jnp
        >>> from elbox.models.equinox import BatchNormMLPVAE
        >>> model, state = eqx.nn.make_with_state(BatchNormMLPVAE)(
        ...     64, hidden=32, latent=4, key=jax.random.key(0)
        ... )
        >>> outputs, state = model(jnp.ones((2, 64)), state, key=jax.random.key(1))
        >>> [a.shape for a in outputs]
        [(2, 64), (2, 4), (2, 4)]
    """

    encoder: eqx.nn.Linear
    encoder_norm: eqx.nn.BatchNorm
    mean: eqx.nn.Linear
    logvar: eqx.nn.Linear
    decoder_hidden: eqx.nn.Linear
    decoder_norm: eqx.nn.BatchNorm
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
        self.encoder_norm = eqx.nn.BatchNorm(hidden, BATCH_AXIS, mode="batch")
        self.mean = eqx.nn.Linear(hidden, latent, key=keys[1])
        self.logvar = eqx.nn.Linear(hidden, latent, key=keys[2])
        self.decoder_hidden = eqx.nn.Linear(latent, hidden, key=keys[3])
        self.decoder_norm = eqx.nn.BatchNorm(hidden, BATCH_AXIS, mode="batch")
        self.decoder_out = eqx.nn.Linear(hidden, features, key=keys[4])
        self.output = output

    @staticmethod
    def _hidden(
        layer: eqx.nn.Linear,
        norm: eqx.nn.BatchNorm,
        h: Float[Array, "batch width"],
        state: eqx.nn.State,
    ) -> tuple[Float[Array, "batch hidden"], eqx.nn.State]:
        """`relu(norm(layer(h)))` over the batch, and the state after the norm."""

        def one(
            v: Float[Array, " width"], state: eqx.nn.State
        ) -> tuple[Float[Array, " hidden"], eqx.nn.State]:
            normed: tuple[Float[Array, " hidden"], eqx.nn.State] = norm(layer(v), state)
            return normed

        out, state = jax.vmap(one, in_axes=(0, None), out_axes=(0, None), axis_name=BATCH_AXIS)(
            h, state
        )
        return jax.nn.relu(out), state

    def encode(
        self, x: Float[Array, "batch features"], state: eqx.nn.State
    ) -> tuple[tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]], eqx.nn.State]:
        """The posterior's mean and log-variance, and the state."""
        h, state = self._hidden(self.encoder, self.encoder_norm, x, state)
        return (jax.vmap(self.mean)(h), jax.vmap(self.logvar)(h)), state

    def decode(
        self, z: Float[Array, "batch latent"], state: eqx.nn.State
    ) -> tuple[Float[Array, "batch features"], eqx.nn.State]:
        """The decoder's output (logits or probabilities, by `output`), and the state."""
        h, state = self._hidden(self.decoder_hidden, self.decoder_norm, z, state)
        out = jax.vmap(self.decoder_out)(h)
        return (jax.nn.sigmoid(out) if self.output == "sigmoid" else out), state

    def __call__(
        self, x: Float[Array, "batch features"], state: eqx.nn.State, *, key: PRNGKeyArray
    ) -> tuple[
        tuple[
            Float[Array, "batch features"],
            Float[Array, "batch latent"],
            Float[Array, "batch latent"],
        ],
        eqx.nn.State,
    ]:
        """Encode, draw `z = mean + exp(logvar / 2) * noise` (noise from `key`), decode:
        `((recon_x, mean, logvar), state)`."""
        (mean, logvar), state = self.encode(x, state)
        recon_x, state = self.decode(reparameterize(mean, logvar, key), state)
        return (recon_x, mean, logvar), state


class ConvVAE(eqx.Module):
    """A convolutional VAE on channels-last images `(batch, height, width, channels)`, in Equinox.

    The twin of `elbox.models.nnx.ConvVAE`, with the same layers and parameter count.
    Equinox's convolutions take one channels-first image, so each example is transposed
    and the layers are vmapped over the batch. The bottleneck is flattened in
    `(height, width, channels)` order, as in the NNX twin, so the two compute the same
    function of corresponding weights. `decoder_outputs` is as in the NNX twin.

    Args:
        image_shape: `(height, width, channels)`; height and width divisible by
            `2**len(channels)`.
        channels: the encoder convolutions' output channels.
        hidden: the width of the dense layers.
        latent: the dimension of the latent space.
        output: `"logits"` or `"sigmoid"` (probabilities).
        decoder_outputs: what the decoder returns per data value (one value by default).
        key: the parameter initialisers' key.

    Raises:
        ValueError: for an `image_shape` whose height or width is not divisible by
            `2**len(channels)`, or that is not three positive ints; for
            `output="sigmoid"` with more than one value per data value.

    Example:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from elbox.models.equinox import ConvVAE
        >>> model = ConvVAE((8, 8, 1), channels=(4, 8), hidden=16, latent=2,
        ...                 key=jax.random.key(0))
        >>> [a.shape for a in model(jnp.zeros((3, 8, 8, 1)), key=jax.random.key(1))]
        [(3, 8, 8, 1), (3, 2), (3, 2)]
    """

    encoder_convs: tuple[eqx.nn.Conv2d, ...]
    encoder: eqx.nn.Linear
    mean: eqx.nn.Linear
    logvar: eqx.nn.Linear
    decoder_hidden: eqx.nn.Linear
    decoder_expand: eqx.nn.Linear
    decoder_convs: tuple[eqx.nn.ConvTranspose2d, ...]
    decoder_out: eqx.nn.Conv2d
    log_scale: Array | None
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    bottleneck: tuple[int, int, int] = eqx.field(static=True)
    output: OutputKind = eqx.field(static=True)
    decoder_outputs: DecoderOutputs = eqx.field(static=True)

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        *,
        channels: Sequence[int] = (32, 64),
        hidden: int = 256,
        latent: int = 16,
        output: OutputKind = "logits",
        decoder_outputs: DecoderOutputs = DecoderOutputs(),
        key: PRNGKeyArray,
    ) -> None:
        outputs = checked_decoder_outputs(decoder_outputs, output)
        widths, bottleneck = conv_layout(image_shape, channels)
        flat = bottleneck[0] * bottleneck[1] * bottleneck[2]
        keys = iter(jax.random.split(key, 2 * len(widths) + 6))
        encoder_in = (image_shape[2], *widths[:-1])
        self.encoder_convs = tuple(
            eqx.nn.Conv2d(i, o, 4, stride=2, padding=1, key=next(keys))
            for i, o in zip(encoder_in, widths, strict=True)
        )
        self.encoder = eqx.nn.Linear(flat, hidden, key=next(keys))
        self.mean = eqx.nn.Linear(hidden, latent, key=next(keys))
        self.logvar = eqx.nn.Linear(hidden, latent, key=next(keys))
        self.decoder_hidden = eqx.nn.Linear(latent, hidden, key=next(keys))
        self.decoder_expand = eqx.nn.Linear(hidden, flat, key=next(keys))
        decoder_in = widths[::-1]
        decoder_out = (*widths[-2::-1], widths[0])
        self.decoder_convs = tuple(
            eqx.nn.ConvTranspose2d(i, o, 4, stride=2, padding=1, key=next(keys))
            for i, o in zip(decoder_in, decoder_out, strict=True)
        )
        self.decoder_out = eqx.nn.Conv2d(
            widths[0], image_shape[2] * outputs.computed, 3, padding=1, key=next(keys)
        )
        height, width, depth = image_shape
        self.image_shape = (height, width, depth)
        self.log_scale = (
            None if outputs.shared is None else jnp.zeros(shared_shape(outputs, self.image_shape))
        )
        self.bottleneck = bottleneck
        self.output = output
        self.decoder_outputs = outputs

    def _encode_one(
        self, x: Float[Array, "height width channels"]
    ) -> tuple[Float[Array, " latent"], Float[Array, " latent"]]:
        h = jnp.transpose(x, (2, 0, 1))
        for conv in self.encoder_convs:
            h = jax.nn.relu(conv(h))
        h = jax.nn.relu(self.encoder(jnp.transpose(h, (1, 2, 0)).reshape(-1)))
        return self.mean(h), self.logvar(h)

    def _decode_one(
        self, z: Float[Array, " latent"]
    ) -> Float[Array, "{self.image_shape[0]} {self.image_shape[1]} computed"]:
        h = jax.nn.relu(self.decoder_expand(jax.nn.relu(self.decoder_hidden(z))))
        h = jnp.transpose(h.reshape(self.bottleneck), (2, 0, 1))
        for conv in self.decoder_convs:
            h = jax.nn.relu(conv(h))
        return jnp.transpose(self.decoder_out(h), (1, 2, 0))

    def encode(
        self, x: Float[Array, "batch height width channels"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """The posterior's mean and log-variance."""
        if x.shape[1:] != self.image_shape:
            raise ValueError(
                f"this ConvVAE takes images of shape (batch, *{self.image_shape}); got {x.shape}"
            )
        return jax.vmap(self._encode_one)(x)

    def decode(
        self, z: Float[Array, "batch latent"]
    ) -> Float[Array, "batch {self.image_shape[0]} {self.image_shape[1]} outputs"]:
        """The decoder's output: logits or probabilities, by `output`, and the learned
        block of `decoder_outputs` appended."""
        out = with_shared_block(jax.vmap(self._decode_one)(z), self.log_scale, self.image_shape)
        return jax.nn.sigmoid(out) if self.output == "sigmoid" else out

    def __call__(
        self, x: Float[Array, "batch height width channels"], *, key: PRNGKeyArray
    ) -> tuple[
        Float[Array, "batch height width outputs"],
        Float[Array, "batch latent"],
        Float[Array, "batch latent"],
    ]:
        """Encode, draw `z = mean + exp(logvar / 2) * noise`, decode: `(recon_x, mean, logvar)`.

        The noise is drawn from `key`; `VAETrainer` passes a new key at every step.
        """
        mean, logvar = self.encode(x)
        return self.decode(reparameterize(mean, logvar, key)), mean, logvar
