"""The mixture of discretised logistics of PixelCNN++ (Salimans et al. 2017)."""

from typing import Final, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._decoder_outputs import DecoderOutputs
from .._validation import checked_int
from ._blocks import checked_blocks, split_blocks
from ._discretised_logistic import discretised_logistic_log_probs
from ._likelihood import AbstractLikelihood
from ._reconstruction import sum_per_sample
from ._scale import MIN_LOG_SCALE
from ._support import EIGHT_BIT, Support

_OWNER: Final = "DiscretisedLogisticMixtureLikelihood"


@final
class DiscretisedLogisticMixtureLikelihood(AbstractLikelihood):
    """A mixture of discretised logistics per value, for 8-bit data in [0, 1].

    Salimans, Karpathy, Chen & Kingma (2017), "PixelCNN++" (openai/pixel-cnn,
    `pixel_cnn_pp/nn.py`, `discretized_mix_logistic_loss`): each value's probability is
    `sum_k pi_k P_k(x)`, where `P_k` is the discretised logistic of
    `DiscretisedLogisticLikelihood` with its own location and scale, and `pi` the
    softmax of the decoder's mixture logits. The decoder returns `3 * components`
    blocks along the last axis (see `DecoderOutputs`): the `components` mixture logits,
    then the locations, then the log-scales (floored at -7, as PixelCNN++ does).

    Each value has a mixture of its own. PixelCNN++ shares the mixture across an RGB
    pixel's three channels and makes the green and blue locations depend linearly on
    the red and green values; that coupling is not included here (for one-channel data
    the two are the same distribution).

    The log-likelihood is a log-probability of 8-bit data, reported in nats and bits
    per dimension. `mean` gives the mixture of the locations clipped to [0, 1].

    Attributes:
        components: the number of logistics in each mixture (PixelCNN++ uses 10).

    Raises:
        ValueError: for fewer than 1 component.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import DiscretisedLogisticMixtureLikelihood
        >>> likelihood = DiscretisedLogisticMixtureLikelihood(components=2)
        >>> likelihood.decoder_outputs.per_value
        6
        >>> levels = jnp.arange(256.0)[:, None] / 255
        >>> parameters = jnp.array([0.0, 1.0, 0.2, 0.7, -3.0, -2.0])
        >>> log_p = likelihood.log_prob(levels, jnp.tile(parameters, (256, 1)))
        >>> round(float(jnp.exp(log_p).sum()), 5)
        1.0
    """

    components: int = eqx.field(static=True)

    def __init__(self, *, components: int = 10) -> None:
        self.components = checked_int(_OWNER, "components", components, 1)

    def _parts(self, blocks: list[Float[Array, "batch *features"]]) -> tuple[Array, Array, Array]:
        k = self.components
        logits = jnp.stack(blocks[:k], axis=-1)
        locations = jnp.stack(blocks[k : 2 * k], axis=-1)
        log_scales = jnp.maximum(jnp.stack(blocks[2 * k :], axis=-1), MIN_LOG_SCALE)
        return logits, locations, log_scales

    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        return -self.log_prob(x, recon_x)

    def log_prob(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        blocks = checked_blocks(_OWNER, x, recon_x, 3 * self.components)
        logits, locations, log_scales = self._parts(blocks)
        log_probs = discretised_logistic_log_probs(
            jnp.broadcast_to(x[..., None], locations.shape), locations, log_scales
        )
        log_weights = jax.nn.log_softmax(logits, axis=-1)
        return sum_per_sample(jax.nn.logsumexp(log_weights + log_probs, axis=-1))

    def mean(self, recon_x: Float[Array, "batch *outputs"]) -> Float[Array, "batch *values"]:
        blocks = split_blocks(_OWNER, recon_x, 3 * self.components)
        logits, locations, _ = self._parts(blocks)
        weights = jax.nn.softmax(logits, axis=-1)
        return jnp.sum(weights * jnp.clip(locations, 0.0, 1.0), axis=-1)

    def observe(
        self, x: Float[Array, "batch *features"], *, key: PRNGKeyArray
    ) -> Float[Array, "batch *features"]:
        return x

    def for_evaluation(self) -> "DiscretisedLogisticMixtureLikelihood":
        return self

    @property
    def data_support(self) -> Support:
        return EIGHT_BIT

    @property
    def decoder_outputs(self) -> DecoderOutputs:
        return DecoderOutputs(3 * self.components)

    def describe(self) -> str:
        return (
            f"mixture of {self.components} discretised logistics (8-bit) per value, "
            "parameters decode(z)"
        )
