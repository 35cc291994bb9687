"""The VAE Trainer spec's four losses, `mse`, `bce`, `bce_logits` and `mae`: each exactly
the loss the spec defines, and each the likelihood it is the negative log of, up to a
constant."""

import math
from typing import final

import jax
import jax.numpy as jnp
from beartype import beartype
from jaxtyping import Array, Float, PRNGKeyArray, jaxtyped

from .._decoder_outputs import DecoderOutputs
from ._bernoulli_terms import bernoulli_log_probs_of_probs
from ._likelihood import AbstractLikelihood
from ._reconstruction import sum_per_sample
from ._support import BINARY, REAL, Support


def _values(x: Float[Array, "batch *features"]) -> int:
    return math.prod(x.shape[1:])


@final
class MSELoss(AbstractLikelihood):
    """Squared error `(recon_x - x)**2`, summed per sample: the spec's `mse`.

    The likelihood: a Gaussian with mean `recon_x` and variance 1/2, whose negative
    log-density is the loss plus the constant `(D / 2) log(pi)` for `D` values per
    example; `log_prob` includes it. `GaussianLikelihood(variance=0.5)` is the same
    distribution with the constant in its loss, and `GaussianLikelihood` takes any other
    variance, or learns it.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import MSELoss
        >>> float(MSELoss()(jnp.zeros((2, 3)), jnp.ones((2, 3))))
        3.0
    """

    @jaxtyped(typechecker=beartype)
    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
    ) -> Float[Array, " batch"]:
        return sum_per_sample((recon_x - x) ** 2)

    def log_prob(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        return -(self.per_sample(x, recon_x) + 0.5 * _values(x) * math.log(math.pi))

    def mean(self, recon_x: Float[Array, "batch *outputs"]) -> Float[Array, "batch *values"]:
        return recon_x

    def observe(
        self, x: Float[Array, "batch *features"], *, key: PRNGKeyArray
    ) -> Float[Array, "batch *features"]:
        return x

    def for_evaluation(self) -> "MSELoss":
        return self

    @property
    def data_support(self) -> Support:
        return REAL

    @property
    def decoder_outputs(self) -> DecoderOutputs:
        return DecoderOutputs()

    def describe(self) -> str:
        return "Gaussian with mean decode(z) and variance 1/2"


@final
class MAELoss(AbstractLikelihood):
    """Absolute error `|recon_x - x|`, summed per sample: for continuous data, robust to
    outliers.

    The likelihood: a Laplace distribution with location `recon_x` and scale 1, whose
    negative log-density is the loss plus the constant `D log 2` for `D` values per
    example; `log_prob` includes it. `LaplaceLikelihood` takes any other scale, or
    learns it.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import MAELoss
        >>> float(MAELoss()(jnp.zeros((2, 3)), jnp.full((2, 3), -2.0)))
        6.0
    """

    @jaxtyped(typechecker=beartype)
    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
    ) -> Float[Array, " batch"]:
        return sum_per_sample(jnp.abs(recon_x - x))

    def log_prob(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        return -(self.per_sample(x, recon_x) + _values(x) * math.log(2.0))

    def mean(self, recon_x: Float[Array, "batch *outputs"]) -> Float[Array, "batch *values"]:
        return recon_x

    def observe(
        self, x: Float[Array, "batch *features"], *, key: PRNGKeyArray
    ) -> Float[Array, "batch *features"]:
        return x

    def for_evaluation(self) -> "MAELoss":
        return self

    @property
    def data_support(self) -> Support:
        return REAL

    @property
    def decoder_outputs(self) -> DecoderOutputs:
        return DecoderOutputs()

    def describe(self) -> str:
        return "Laplace with location decode(z) and scale 1"


@final
class BCELoss(AbstractLikelihood):
    """Binary cross-entropy on probabilities `recon_x` in [0, 1], summed per sample: the
    spec's `bce`.

    `-(x * log(recon_x) + (1 - x) * log(1 - recon_x))`, each log bounded below by -100 as
    in `torch.nn.BCELoss`, so a prediction of exactly 0 or 1 stays finite. Prefer
    `BCEWithLogitsLoss` on the decoder's logits: it is exact where this one saturates.

    The likelihood: a Bernoulli with probabilities `recon_x`; `log_prob` is minus the loss
    (no constant). It is a normalised distribution of binary data only: on grey levels
    the loss is a cross-entropy, not a negative log-likelihood, and elbox reports it as
    such (`ContinuousBernoulliLikelihood` is the density for data in [0, 1]).

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import BCELoss
        >>> round(float(BCELoss()(jnp.ones((1, 2)), jnp.full((1, 2), 0.5))), 4)
        1.3863
    """

    @jaxtyped(typechecker=beartype)
    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
    ) -> Float[Array, " batch"]:
        return sum_per_sample(-bernoulli_log_probs_of_probs(x, recon_x))

    def log_prob(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        return -self.per_sample(x, recon_x)

    def mean(self, recon_x: Float[Array, "batch *outputs"]) -> Float[Array, "batch *values"]:
        return recon_x

    def observe(
        self, x: Float[Array, "batch *features"], *, key: PRNGKeyArray
    ) -> Float[Array, "batch *features"]:
        return x

    def for_evaluation(self) -> "BCELoss":
        return self

    @property
    def data_support(self) -> Support:
        return BINARY

    @property
    def decoder_outputs(self) -> DecoderOutputs:
        return DecoderOutputs()

    def describe(self) -> str:
        return "Bernoulli with probabilities decode(z)"


@final
class BCEWithLogitsLoss(AbstractLikelihood):
    """Binary cross-entropy on logits `recon_x`, computed stably, summed per sample: the
    spec's `bce_logits`.

    `softplus(recon_x) - x * recon_x`, the cross-entropy of `sigmoid(recon_x)` without ever
    forming the probability: finite and exact for any logit.

    The likelihood: a Bernoulli with logits `recon_x`; `log_prob` is minus the loss (no
    constant). It is a normalised distribution of binary data only: on grey levels the
    loss is a cross-entropy, not a negative log-likelihood, and elbox reports it as such
    (`ContinuousBernoulliLikelihood` is the density for data in [0, 1];
    `BernoulliLikelihood(binarisation="dynamic")` binarises grey levels).

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import BCEWithLogitsLoss
        >>> round(float(BCEWithLogitsLoss()(jnp.ones((1, 2)), jnp.zeros((1, 2)))), 4)
        1.3863
    """

    @jaxtyped(typechecker=beartype)
    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
    ) -> Float[Array, " batch"]:
        return sum_per_sample(jax.nn.softplus(recon_x) - x * recon_x)

    def log_prob(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        return -self.per_sample(x, recon_x)

    def mean(self, recon_x: Float[Array, "batch *outputs"]) -> Float[Array, "batch *values"]:
        return jax.nn.sigmoid(recon_x)

    def observe(
        self, x: Float[Array, "batch *features"], *, key: PRNGKeyArray
    ) -> Float[Array, "batch *features"]:
        return x

    def for_evaluation(self) -> "BCEWithLogitsLoss":
        return self

    @property
    def data_support(self) -> Support:
        return BINARY

    @property
    def decoder_outputs(self) -> DecoderOutputs:
        return DecoderOutputs()

    def describe(self) -> str:
        return "Bernoulli with logits decode(z)"


@jaxtyped(typechecker=beartype)
def mse_loss(
    x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
) -> Float[Array, ""]:
    """Squared error summed over non-batch axes, averaged over the batch (`MSELoss`)."""
    return MSELoss()(x, recon_x)


@jaxtyped(typechecker=beartype)
def bce_loss(
    x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
) -> Float[Array, ""]:
    """Binary cross-entropy on probabilities, finite at 0 and 1 (`BCELoss`)."""
    return BCELoss()(x, recon_x)


@jaxtyped(typechecker=beartype)
def bce_with_logits_loss(
    x: Float[Array, "batch *features"], logits: Float[Array, "batch *features"]
) -> Float[Array, ""]:
    """Binary cross-entropy on logits, numerically stable (`BCEWithLogitsLoss`)."""
    return BCEWithLogitsLoss()(x, logits)


@jaxtyped(typechecker=beartype)
def mae_loss(
    x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *features"]
) -> Float[Array, ""]:
    """Absolute error summed over non-batch axes, averaged over the batch (`MAELoss`)."""
    return MAELoss()(x, recon_x)
