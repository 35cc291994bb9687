"""The discretised logistic of 8-bit data (Kingma et al. 2016; Salimans et al. 2017)."""

import math
from typing import Final, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._custom_types import RealNumber
from .._decoder_outputs import DecoderOutputs
from ._likelihood import AbstractLikelihood
from ._reconstruction import sum_per_sample
from ._scale import (
    LearnedScale,
    checked_scale,
    describe_scale,
    location,
    location_and_log_scale,
    scale_outputs,
)
from ._support import EIGHT_BIT, Support

_OWNER: Final = "DiscretisedLogisticLikelihood"

HALF_BIN: Final = 1.0 / 510.0
"""Half the width of a bin of 8-bit data in [0, 1]: the values are k / 255."""


def discretised_logistic_log_probs(
    x: Float[Array, "*shape"],
    loc: Float[Array, "*shape"],
    log_scale: Float[Array, "*shape"] | float,
) -> Float[Array, "*shape"]:
    """log P(x) of 8-bit values `x` (k / 255) under a logistic of location `loc` and scale
    `exp(log_scale)` discretised to their bins, value by value.

    The mass of the bin `[x - 1/510, x + 1/510]`, the first bin reaching down to -inf and
    the last up to +inf, as in PixelCNN++ (openai/pixel-cnn, `pixel_cnn_pp/nn.py`,
    `discretized_mix_logistic_loss`, for data in [-1, 1]). The difference of the two
    sigmoids is computed as `sigmoid(a) sigmoid(-b) (1 - exp(b - a))`, which has no
    cancellation anywhere, so no bin needs PixelCNN++'s fallback to the density at the
    bin's centre: the 256 masses are exact and sum to 1.
    """
    inverse_scale = jnp.exp(-jnp.asarray(log_scale, x.dtype))
    centred = x - loc
    upper = inverse_scale * (centred + HALF_BIN)
    lower = inverse_scale * (centred - HALF_BIN)
    log_below_upper = -jax.nn.softplus(-upper)  # log sigmoid(upper)
    log_above_lower = -jax.nn.softplus(lower)  # log(1 - sigmoid(lower))
    log_width = jnp.log(-jnp.expm1(-(2.0 * HALF_BIN) * inverse_scale))
    interior = log_below_upper + log_above_lower + log_width
    return jnp.where(
        x < HALF_BIN,
        log_below_upper,
        jnp.where(x > 1.0 - HALF_BIN, log_above_lower, interior),
    )


@final
class DiscretisedLogisticLikelihood(AbstractLikelihood):
    """A logistic per value, discretised to the 256 levels of 8-bit data in [0, 1].

    The probability of a value `k / 255` is the logistic's mass over its bin, of width
    1/255; the bins of 0 and 1 reach out to -inf and +inf, so the 256 probabilities sum
    to 1: a normalised distribution of 8-bit data, whose log-likelihood the
    image-modelling literature reports in bits per dimension (as elbox does). Kingma et
    al. (2016), "Improving variational inference with inverse autoregressive flow"
    (openai/iaf, `tf_utils/distributions.py`, `discretized_logistic`), with the edge
    bins of Salimans et al. (2017, PixelCNN++; see `discretised_logistic_log_probs`).

    The location is the decoder's output; the scale is fixed or learned as the
    Gaussian's variance is (see `GaussianLikelihood`): `"decoder"` (the default; the
    output's second block is `log s` per value), `"global"` or `"per_feature"` (a
    learned parameter of the model), floored at -7 as in PixelCNN++. `mean` gives the
    location clipped to [0, 1], close to the discretised distribution's mean.

    The data must be 8-bit values `k / 255` in [0, 1] (`data_support`); on other data
    the probabilities are not those of the data's values.

    Attributes:
        scale: a positive number, or `"global"`, `"per_feature"` or `"decoder"`.

    Raises:
        ValueError: for a scale that is neither.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import DiscretisedLogisticLikelihood
        >>> likelihood = DiscretisedLogisticLikelihood(scale=0.01)
        >>> levels = jnp.arange(256.0)[:, None] / 255
        >>> log_p = likelihood.log_prob(levels, jnp.full((256, 1), 0.3))
        >>> round(float(jnp.exp(log_p).sum()), 5)
        1.0
    """

    scale: float | LearnedScale = eqx.field(static=True)

    def __init__(self, *, scale: RealNumber | LearnedScale = "decoder") -> None:
        self.scale = checked_scale(_OWNER, "scale", scale)

    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        return -self.log_prob(x, recon_x)

    def log_prob(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        fixed = math.log(self.scale) if isinstance(self.scale, float) else 0.0
        loc, log_scale = location_and_log_scale(_OWNER, x, recon_x, self.scale, fixed)
        return sum_per_sample(discretised_logistic_log_probs(x, loc, log_scale))

    def mean(self, recon_x: Float[Array, "batch *outputs"]) -> Float[Array, "batch *values"]:
        return jnp.clip(location(_OWNER, recon_x, self.scale), 0.0, 1.0)

    def observe(
        self, x: Float[Array, "batch *features"], *, key: PRNGKeyArray
    ) -> Float[Array, "batch *features"]:
        return x

    def for_evaluation(self) -> "DiscretisedLogisticLikelihood":
        return self

    @property
    def data_support(self) -> Support:
        return EIGHT_BIT

    @property
    def decoder_outputs(self) -> DecoderOutputs:
        return scale_outputs(self.scale)

    def describe(self) -> str:
        scale = describe_scale("scale", self.scale)
        return f"discretised logistic (8-bit) with location decode(z) and {scale}"
