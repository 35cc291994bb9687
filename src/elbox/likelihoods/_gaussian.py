"""The Gaussian likelihood: a mean from the decoder, a variance fixed or learned."""

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

_OWNER: Final = "GaussianLikelihood"
_HALF_LOG_TWO_PI: Final = 0.5 * math.log(2.0 * math.pi)


@final
class GaussianLikelihood(AbstractLikelihood):
    """A Gaussian per value: mean from the decoder, variance fixed or learned.

    `log p(x | z) = sum -(x - mu)**2 / (2 sigma**2) - log sigma - log(2 pi) / 2`.

    - A fixed `variance` (any positive number): the decoder returns the mean. With a
      fixed variance the loss is a scaled squared error, so the variance and the KL's
      beta are the same knob; `variance=0.5` is the spec's `mse` (`MSELoss`), whose loss
      leaves out the constant `(D / 2) log(pi)`.
    - A learned variance, so that the model finds the scale of its own errors (Rybkin,
      Daniilidis & Levine 2021, "Simple and effective VAE training with calibrated
      decoders", the sigma-VAE; orybkin/sigma-vae-pytorch, `model.py`,
      `reconstruction_loss`): `"global"` (one log-standard-deviation for all values),
      `"per_feature"` (one per value) or `"decoder"` (predicted from the latent code,
      per value and example). The decoder's output then has two blocks along its last
      axis, the mean and `log sigma` (see `DecoderOutputs`); for `"global"` and
      `"per_feature"` the second block is a learned parameter of the model broadcast
      over the batch, as the reference models of `elbox.models` do with
      `decoder_outputs=likelihood.decoder_outputs`. A learned `log sigma` is floored at
      -7 (as PixelCNN++ floors its log-scales), so a density of repeated values cannot
      grow without end.

    The log-likelihood is a log-density, in nats; a learned variance makes the
    reconstruction term and the KL trade off by the data's own noise level.

    Attributes:
        variance: a positive number, or `"global"`, `"per_feature"` or `"decoder"`.

    Raises:
        ValueError: for a variance that is neither.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import GaussianLikelihood
        >>> x = jnp.zeros((1, 2))
        >>> fixed = GaussianLikelihood(variance=1.0)
        >>> round(float(fixed.log_prob(x, jnp.ones((1, 2)))[0]), 4)  # 2 (-1/2 - 0.9189)
        -2.8379
        >>> learned = GaussianLikelihood(variance="decoder")
        >>> learned.decoder_outputs.per_value
        2
        >>> mean_and_log_sigma = jnp.array([[1.0, 1.0, 0.0, 0.0]])
        >>> round(float(learned.log_prob(x, mean_and_log_sigma)[0]), 4)
        -2.8379
    """

    variance: float | LearnedScale = eqx.field(static=True)

    def __init__(self, *, variance: RealNumber | LearnedScale) -> None:
        self.variance = checked_scale(_OWNER, "variance", variance)

    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        return -self.log_prob(x, recon_x)

    def log_prob(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        fixed = 0.5 * math.log(self.variance) if isinstance(self.variance, float) else 0.0
        mean, log_sigma = location_and_log_scale(_OWNER, x, recon_x, self.variance, fixed)
        standardised = (x - mean) * jnp.exp(-log_sigma)
        return sum_per_sample(-0.5 * standardised**2 - log_sigma - _HALF_LOG_TWO_PI)

    def mean(self, recon_x: Float[Array, "batch *outputs"]) -> Float[Array, "batch *values"]:
        return location(_OWNER, recon_x, self.variance)

    def observe(
        self, x: Float[Array, "batch *features"], *, key: PRNGKeyArray
    ) -> Float[Array, "batch *features"]:
        return x

    def for_evaluation(self) -> "GaussianLikelihood":
        return self

    @property
    def data_support(self) -> Support:
        return REAL

    @property
    def decoder_outputs(self) -> DecoderOutputs:
        return scale_outputs(self.variance)

    def describe(self) -> str:
        return f"Gaussian with mean decode(z) and {describe_scale('variance', self.variance)}"
