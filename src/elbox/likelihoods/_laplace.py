"""The Laplace likelihood: a location from the decoder, a scale fixed or learned."""

import math
from typing import Final, final

import equinox as eqx
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
from ._support import REAL, Support

_OWNER: Final = "LaplaceLikelihood"
_LOG_2: Final = math.log(2.0)


@final
class LaplaceLikelihood(AbstractLikelihood):
    """A Laplace distribution per value: location from the decoder, scale fixed or
    learned; heavier tails than the Gaussian, so outliers weigh less.

    `log p(x | z) = sum -|x - mu| / b - log(2 b)`. A fixed `scale` of 1 is the spec's
    `mae` (`MAELoss`), whose loss leaves out the constant `D log 2`. A learned scale is
    read from the decoder's output as the Gaussian's learned variance is (see
    `GaussianLikelihood`): a second block along the last axis holding `log b`, from a
    learned parameter of the model (`"global"`, `"per_feature"`) or predicted by the
    decoder (`"decoder"`), floored at -7.

    Attributes:
        scale: a positive number, or `"global"`, `"per_feature"` or `"decoder"`.

    Raises:
        ValueError: for a scale that is neither.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import LaplaceLikelihood
        >>> likelihood = LaplaceLikelihood(scale=1.0)
        >>> round(float(likelihood.log_prob(jnp.zeros((1, 1)), jnp.ones((1, 1)))[0]), 4)
        -1.6931
    """

    scale: float | LearnedScale = eqx.field(static=True)

    def __init__(self, *, scale: RealNumber | LearnedScale) -> None:
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
        return sum_per_sample(-jnp.abs(x - loc) * jnp.exp(-log_scale) - log_scale - _LOG_2)

    def mean(self, recon_x: Float[Array, "batch *outputs"]) -> Float[Array, "batch *values"]:
        return location(_OWNER, recon_x, self.scale)

    def observe(
        self, x: Float[Array, "batch *features"], *, key: PRNGKeyArray
    ) -> Float[Array, "batch *features"]:
        return x

    def for_evaluation(self) -> "LaplaceLikelihood":
        return self

    @property
    def data_support(self) -> Support:
        return REAL

    @property
    def decoder_outputs(self) -> DecoderOutputs:
        return scale_outputs(self.scale)

    def describe(self) -> str:
        return f"Laplace with location decode(z) and {describe_scale('scale', self.scale)}"
