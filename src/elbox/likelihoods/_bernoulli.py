"""The Bernoulli likelihood of binary data, with the binarisation of grey levels."""

from typing import final

import equinox as eqx
import jax
from jaxtyping import Array, Float, PRNGKeyArray

from .._decoder_outputs import DecoderOutputs
from .._validation import checked_choice
from ._bernoulli_terms import bernoulli_log_probs_of_logits, bernoulli_log_probs_of_probs
from ._binarisation import BINARISATIONS, Binarisation, binarised
from ._blocks import checked_blocks
from ._likelihood import AbstractLikelihood
from ._reconstruction import sum_per_sample
from ._support import BINARISED, BINARY, Support


@final
class BernoulliLikelihood(AbstractLikelihood):
    """A Bernoulli per value: the distribution of binary data, with probabilities or
    logits from the decoder.

    `log p(x | z) = sum x log p + (1 - x) log(1 - p)`, a normalised log-probability of
    binary data. Grey levels in [0, 1] are not binary: a Bernoulli of them is a
    cross-entropy, not a likelihood. `binarisation` makes them binary first:

    - `"dynamic"`: a fresh Bernoulli draw of the data at every training step (each
      value is 1 with the probability that it is), the dynamic binarisation of the
      binarised-MNIST literature (yburda/iwae `datasets.py`,
      `BinarizedDatasetTheano`); evaluation (`for_evaluation`) uses the fixed one;
    - `"fixed"`: one draw per example, the same at every call: the draw's key is a
      fixed key with a hash of the example's values folded in, so an example is
      binarised the same way in any batch, at any position;
    - `"none"` (the default): the data is used as it is, and should be binary.

    The model sees the binarised data too (the encoder's input), as in the literature.
    With `logits=True` the loss is `BCEWithLogitsLoss`'s, exact for every logit; with
    probabilities, each log is bounded below by -100 as in `BCELoss`. The log-likelihood
    of binary data is a log-probability: elbox reports it in nats and in bits per
    dimension.

    Attributes:
        logits: whether the decoder returns logits (True) or probabilities.
        binarisation: `"none"`, `"dynamic"` or `"fixed"`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from elbox import BernoulliLikelihood
        >>> likelihood = BernoulliLikelihood(binarisation="dynamic")
        >>> x = jnp.full((2, 4), 0.5)
        >>> float(likelihood.log_prob(jnp.ones((2, 4)), jnp.zeros((2, 4)))[0])
        -2.7725887298583984
        >>> drawn = likelihood.observe(x, key=jax.random.key(0))
        >>> sorted(set(drawn.ravel().tolist())) <= [0.0, 1.0]
        True
    """

    logits: bool = eqx.field(static=True)
    binarisation: Binarisation = eqx.field(static=True)

    def __init__(self, *, logits: bool = True, binarisation: Binarisation = "none") -> None:
        self.logits = bool(logits)
        checked_choice("BernoulliLikelihood", "binarisation", binarisation, BINARISATIONS)
        self.binarisation = binarisation

    def per_sample(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        return -self.log_prob(x, recon_x)

    def log_prob(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        (parameter,) = checked_blocks("BernoulliLikelihood", x, recon_x, 1)
        if self.logits:
            return sum_per_sample(bernoulli_log_probs_of_logits(x, parameter))
        return sum_per_sample(bernoulli_log_probs_of_probs(x, parameter))

    def mean(self, recon_x: Float[Array, "batch *outputs"]) -> Float[Array, "batch *values"]:
        return jax.nn.sigmoid(recon_x) if self.logits else recon_x

    def observe(
        self, x: Float[Array, "batch *features"], *, key: PRNGKeyArray
    ) -> Float[Array, "batch *features"]:
        return binarised(x, self.binarisation, key)

    def for_evaluation(self) -> "BernoulliLikelihood":
        if self.binarisation == "dynamic":
            return BernoulliLikelihood(logits=self.logits, binarisation="fixed")
        return self

    @property
    def data_support(self) -> Support:
        return BINARY if self.binarisation == "none" else BINARISED

    @property
    def decoder_outputs(self) -> DecoderOutputs:
        return DecoderOutputs()

    def describe(self) -> str:
        parameter = "logits" if self.logits else "probabilities"
        drawn = {
            "none": "",
            "dynamic": ", of the data binarised afresh at each step (a fixed draw to evaluate)",
            "fixed": ", of the data binarised by a fixed draw",
        }[self.binarisation]
        return f"Bernoulli with {parameter} decode(z){drawn}"
