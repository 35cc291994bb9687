"""`AbstractLikelihood`: p(x | decoder output), a normalised distribution of the data."""

import abc
import math

import numpy.typing as npt
from jaxtyping import Array, Float, PRNGKeyArray

from .._decoder_outputs import DecoderOutputs
from ._reconstruction import AbstractReconstructionLoss
from ._support import Support


class AbstractLikelihood(AbstractReconstructionLoss):
    """A likelihood p(x | z): a normalised distribution of the data, given the decoder's
    output `recon_x = decode(z)`.

    Its `log_prob` is the log-density (continuous data) or log-probability (discrete data)
    of each example, in nats, normalising constant included: what the importance-weighted
    bound of `elbox.metrics.log_likelihood` and every report of elbox use. Its
    `per_sample` is the training loss: `-log_prob` for the likelihoods of this module, and
    `-log_prob` less a constant that does not depend on the model for the four loss names
    of the VAE Trainer spec (`MSELoss`, `BCELoss`, `BCEWithLogitsLoss`, `MAELoss`), which
    keep their losses exactly as the spec defines them.

    A likelihood is a normalised distribution of the data in its `data_support` only:
    a Bernoulli of binary data (not of grey levels), a discretised logistic of 8-bit
    data. `normalised_for(x)` says whether it is one for given data; elbox reports a
    log-likelihood only then.

    Extra decoder outputs (a scale, mixture weights) are blocks along the last axis of
    `recon_x`, as `decoder_outputs` says (see `DecoderOutputs`); a learned global or
    per-feature scale is a parameter of the model, so it is trained, checkpointed and
    restored with the model's other parameters, for Flax NNX and Equinox models alike.
    """

    @abc.abstractmethod
    def log_prob(
        self, x: Float[Array, "batch *features"], recon_x: Float[Array, "batch *outputs"]
    ) -> Float[Array, " batch"]:
        """log p(x | recon_x) of each example in nats, summed over its values, with the
        normalising constant."""

    @abc.abstractmethod
    def mean(self, recon_x: Float[Array, "batch *outputs"]) -> Float[Array, "batch *values"]:
        """E[x | recon_x], of the data's shape: what reconstructions and samples show."""

    @abc.abstractmethod
    def observe(
        self, x: Float[Array, "batch *features"], *, key: PRNGKeyArray
    ) -> Float[Array, "batch *features"]:
        """The data as the model sees it: `x` itself, or a binarisation of it (a Bernoulli
        likelihood's `binarisation`), drawn with `key` where it is random."""

    @abc.abstractmethod
    def for_evaluation(self) -> "AbstractLikelihood":
        """The likelihood that evaluation uses: itself, or with a dynamic binarisation
        replaced by the fixed one, so that every evaluation sees the same data."""

    @property
    @abc.abstractmethod
    def data_support(self) -> Support:
        """The data, as given to `observe`, of which this is a normalised distribution."""

    @property
    @abc.abstractmethod
    def decoder_outputs(self) -> DecoderOutputs:
        """What the decoder returns for this likelihood: the blocks of `recon_x`."""

    @abc.abstractmethod
    def describe(self) -> str:
        """The distribution in words, for reports: e.g. "continuous Bernoulli with logits
        decode(z)"."""

    def normalised_for(self, x: npt.ArrayLike) -> bool:
        """Whether `log_prob` is a normalised log-density or log-probability of data `x`
        (every value of `x` lies in `data_support`); checked on the host."""
        return self.data_support.contains(x)


def bits_per_dimension(log_likelihood: float, dimensions: int) -> float:
    """A log-likelihood of discrete data in nats per example as the negative log2
    per value, the unit of the image-modelling literature:
    `-log_likelihood / (dimensions * log 2)`.

    Example:
        >>> from elbox import bits_per_dimension
        >>> round(bits_per_dimension(-64 * 0.6931471805599453, 64), 6)
        1.0
    """
    return -log_likelihood / (dimensions * math.log(2.0))
