"""The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019): the density for data in [0, 1]."""

from typing import Final, final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._decoder_outputs import DecoderOutputs
from ._bernoulli_terms import floored_log
from ._blocks import checked_blocks
from ._likelihood import AbstractLikelihood
from ._reconstruction import sum_per_sample
from ._support import UNIT_INTERVAL, Support

# Below this |logit| (probabilities within about 0.45 to 0.55) the log-normaliser and the
# mean are their Taylor series: the closed forms lose their precision there (0 / 0 at
# exactly 1/2). Three terms leave an error below 1e-10.
_TAYLOR_BELOW: Final = 0.2


def continuous_bernoulli_log_probs(
    x: Float[Array, "*shape"], logits: Float[Array, "*shape"]
) -> Float[Array, "*shape"]:
    """log p(x) of the continuous Bernoulli with these logits, value by value.

    With `lam = sigmoid(eta)` the density is `C(lam) lam**x (1 - lam)**(1 - x)`, with
    `C(lam) = 2 atanh(1 - 2 lam) / (1 - 2 lam)` (Loaiza-Ganem & Cunningham 2019); in the
    logit it is `eta exp(eta x) / (exp(eta) - 1)`, whose log is computed as

        x eta - max(eta, 0) + log|eta| - log(1 - exp(-|eta|)),

    the Bernoulli's `softplus` and the normaliser's `log(1 + exp(-|eta|))` cancelling:
    fewer transcendental operations than the cross-entropy plus `log C`, and no
    cancellation for any logit. Near `lam = 1/2` (`|eta| < 0.2`), where the closed form
    is 0 / 0 at `eta = 0`, its Taylor series
    `x eta - eta / 2 - eta**2 / 24 + eta**4 / 2880 - eta**6 / 181440` is used instead
    (error below 1e-10), as the paper's code uses a Taylor expansion of `log C` near 1/2
    (cunningham-lab/cb_and_cc, README.md, `cont_bern_log_norm`).
    """
    magnitude = jnp.abs(logits)
    small = magnitude < _TAYLOR_BELOW
    # `where` evaluates both branches: keep the closed form's logs away from 0.
    safe = jnp.where(small, _TAYLOR_BELOW, magnitude)
    # log(1 - exp(-|eta|)) from one exponential, which its derivative reuses; accurate
    # to a few float32 ulps from |eta| = 0.2 up.
    closed = x * logits - jnp.maximum(logits, 0.0) + jnp.log(safe) - jnp.log1p(-jnp.exp(-safe))
    square = logits * logits
    series = (
        x * logits
        - 0.5 * logits
        - square * (1.0 / 24.0 - square * (1.0 / 2880.0 - square / 181440.0))
    )
    return jnp.where(small, series, closed)


def continuous_bernoulli_mean(logits: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """The mean of the continuous Bernoulli with these logits.

    `lam / (2 lam - 1) + 1 / (2 atanh(1 - 2 lam))` (Loaiza-Ganem & Cunningham 2019),
    which in the logit is `1 / (1 - exp(-eta)) - 1 / eta`; near 0 its series
    `1/2 + eta / 12 - eta**3 / 720 + eta**5 / 30240`.
    """
    small = jnp.abs(logits) < _TAYLOR_BELOW
    safe = jnp.where(small, _TAYLOR_BELOW, logits)
    closed = 1.0 / -jnp.expm1(-safe) - 1.0 / safe
    square = logits * logits
    series = 0.5 + logits * (1.0 / 12.0 + square * (-1.0 / 720.0 + square / 30240.0))
    return jnp.where(small, series, closed)


def _logits_of(probs: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """The logits of probabilities, each log bounded below by -100 (as `BCELoss` bounds
    them), so that probabilities of exactly 0 and 1 give finite logits."""
    return floored_log(probs) - floored_log(1.0 - probs)


@final
class ContinuousBernoulliLikelihood(AbstractLikelihood):
    """The continuous Bernoulli: a normalised density for data in [0, 1].

    Loaiza-Ganem & Cunningham (2019), "The continuous Bernoulli: fixing a pervasive error
    in variational autoencoders": a Bernoulli's `lam**x (1 - lam)**(1 - x)` taken as a
    density of `x` in [0, 1] needs the normalising constant `C(lam)`,

        p(x | lam) = C(lam) lam**x (1 - lam)**(1 - x),
        C(lam) = 2 atanh(1 - 2 lam) / (1 - 2 lam),  C(1/2) = 2,

    so its negative log is the binary cross-entropy minus `log C(lam)`. This is what
    training with `bce_logits` on grey levels leaves out: `bce_logits` is not a density
    of them, the continuous Bernoulli is. The log-density is computed from the logit
    `eta` (see `continuous_bernoulli_log_probs`), with its Taylor series near
    `lam = 1/2` (the paper's code does the same for `log C`, cunningham-lab/cb_and_cc,
    `cont_bern_log_norm`): exact and smooth at `lam = 1/2` and finite as `lam` goes to 0
    or 1. With probabilities (`logits=False`) they are turned into logits with each log
    bounded below by -100, as in `BCELoss`.

    The decoder's output `lam` is not the mean of `x`: `mean` gives
    `lam / (2 lam - 1) + 1 / (2 atanh(1 - 2 lam))`, pulled towards 1/2, which is what
    reconstructions and samples show. The log-likelihood is a log-density (of
    continuous values): it may be positive, and it is reported in nats.

    Attributes:
        logits: whether the decoder returns logits (True) or probabilities.

    Example:
        >>> import jax.numpy as jnp
        >>> from elbox import ContinuousBernoulliLikelihood
        >>> likelihood = ContinuousBernoulliLikelihood()
        >>> x = jnp.array([[0.0, 0.5, 1.0]])
        >>> # At lam = 1/2 the density is uniform on [0, 1]: log p = 0.
        >>> float(likelihood.log_prob(x, jnp.zeros((1, 3)))[0])
        0.0
        >>> float(likelihood.mean(jnp.zeros((1, 1)))[0, 0])
        0.5
    """

    logits: bool = eqx.field(static=True)

    def __init__(self, *, logits: bool = True) -> None:
        self.logits = bool(logits)

    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        return -self.log_prob(x, recon_x)

    def log_prob(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        (parameter,) = checked_blocks("ContinuousBernoulliLikelihood", x, recon_x, 1)
        logits = parameter if self.logits else _logits_of(parameter)
        return sum_per_sample(continuous_bernoulli_log_probs(x, logits))

    def mean(self, recon_x: Float[Array, "batch *outputs"]) -> Float[Array, "batch *values"]:
        return continuous_bernoulli_mean(recon_x if self.logits else _logits_of(recon_x))

    def observe(
        self, x: Float[Array, "batch *features"], *, key: PRNGKeyArray
    ) -> Float[Array, "batch *features"]:
        return x

    def for_evaluation(self) -> "ContinuousBernoulliLikelihood":
        return self

    @property
    def data_support(self) -> Support:
        return UNIT_INTERVAL

    @property
    def decoder_outputs(self) -> DecoderOutputs:
        return DecoderOutputs()

    def describe(self) -> str:
        parameter = "logits" if self.logits else "probabilities"
        return f"continuous Bernoulli with {parameter} decode(z)"
