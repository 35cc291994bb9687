"""The likelihoods by name: the spec's four loss names and the normalised likelihoods, as
trainers, the metrics and the command line choose them."""

from collections.abc import Callable
from typing import Final

from .._custom_types import LikelihoodName
from ._bernoulli import BernoulliLikelihood
from ._continuous_bernoulli import ContinuousBernoulliLikelihood
from ._discretised_logistic import DiscretisedLogisticLikelihood
from ._gaussian import GaussianLikelihood
from ._laplace import LaplaceLikelihood
from ._likelihood import AbstractLikelihood
from ._logistic_mixture import DiscretisedLogisticMixtureLikelihood
from ._reconstruction import AbstractReconstructionLoss
from ._spec_losses import BCELoss, BCEWithLogitsLoss, MAELoss, MSELoss

RECONSTRUCTION_LOSSES: Final[dict[str, AbstractLikelihood]] = {
    "mse": MSELoss(),
    "bce": BCELoss(),
    "bce_logits": BCEWithLogitsLoss(),
    "mae": MAELoss(),
}
"""The spec's loss names and their losses."""

# Each normalised likelihood by name, made with or without logits (`logits` matters to
# the Bernoulli ones only).
_NORMALISED: Final[dict[str, Callable[[bool], AbstractLikelihood]]] = {
    "bernoulli": lambda logits: BernoulliLikelihood(logits=logits, binarisation="dynamic"),
    "continuous_bernoulli": lambda logits: ContinuousBernoulliLikelihood(logits=logits),
    "gaussian": lambda _: GaussianLikelihood(variance="global"),
    "gaussian_per_feature": lambda _: GaussianLikelihood(variance="per_feature"),
    "gaussian_decoder": lambda _: GaussianLikelihood(variance="decoder"),
    "laplace": lambda _: LaplaceLikelihood(scale="global"),
    "laplace_per_feature": lambda _: LaplaceLikelihood(scale="per_feature"),
    "laplace_decoder": lambda _: LaplaceLikelihood(scale="decoder"),
    "discretised_logistic": lambda _: DiscretisedLogisticLikelihood(scale="decoder"),
    "discretised_logistic_mixture": lambda _: DiscretisedLogisticMixtureLikelihood(components=10),
}
_TAKE_PROBABILITIES: Final = ("bernoulli", "continuous_bernoulli")

LIKELIHOOD_NAMES: Final[tuple[str, ...]] = (*RECONSTRUCTION_LOSSES, *_NORMALISED)
"""Every likelihood name: the spec's four losses, then the normalised likelihoods."""


def _choices() -> str:
    return ", ".join(repr(name) for name in LIKELIHOOD_NAMES)


def likelihood_from_name(name: LikelihoodName, *, logits: bool = True) -> AbstractLikelihood:
    """The likelihood called `name`, as `elbox train --likelihood NAME` chooses it.

    - `"mse"`, `"bce"`, `"bce_logits"`, `"mae"`: the spec's losses (`MSELoss`,
      `BCELoss`, `BCEWithLogitsLoss`, `MAELoss`), exactly as the spec defines them.
    - `"bernoulli"`: `BernoulliLikelihood(binarisation="dynamic")`, for binary data or
      grey levels binarised afresh at each step.
    - `"continuous_bernoulli"`: `ContinuousBernoulliLikelihood()`, the density of data
      in [0, 1].
    - `"gaussian"`, `"gaussian_per_feature"`, `"gaussian_decoder"`:
      `GaussianLikelihood` with a learned variance: one for all values, one per value,
      or predicted by the decoder.
    - `"laplace"`, `"laplace_per_feature"`, `"laplace_decoder"`: `LaplaceLikelihood`
      with a learned scale, likewise.
    - `"discretised_logistic"`: `DiscretisedLogisticLikelihood()` (the decoder predicts
      the scale), for 8-bit data.
    - `"discretised_logistic_mixture"`: `DiscretisedLogisticMixtureLikelihood()` with
      10 components, for 8-bit data.

    Args:
        name: the likelihood.
        logits: whether the decoder returns logits (the default) or probabilities, for
            `"bernoulli"` and `"continuous_bernoulli"` (`"bce"` takes probabilities and
            `"bce_logits"` logits whatever this says).

    Raises:
        ValueError: for an unknown name (the message lists them), or `logits=False` with
            a likelihood that takes no probabilities.

    Example:
        >>> from elbox import likelihood_from_name
        >>> likelihood_from_name("continuous_bernoulli").describe()
        'continuous Bernoulli with logits decode(z)'
        >>> likelihood_from_name("gaussian").decoder_outputs
        DecoderOutputs(per_value=2, shared='global')
    """
    if not isinstance(name, str) or name not in LIKELIHOOD_NAMES:
        raise ValueError(f"unknown likelihood {name!r}; expected one of {_choices()}")
    if name in RECONSTRUCTION_LOSSES:
        return RECONSTRUCTION_LOSSES[name]
    if not logits and name not in _TAKE_PROBABILITIES:
        raise ValueError(
            f"the {name!r} likelihood reads unbounded decoder outputs, not probabilities: "
            "use a decoder that returns logits (probabilities suit 'bce', 'bernoulli' "
            "and 'continuous_bernoulli')"
        )
    return _NORMALISED[name](logits)


def reconstruction_loss(
    loss_type: LikelihoodName | AbstractReconstructionLoss,
) -> AbstractReconstructionLoss:
    """The reconstruction loss named `loss_type`: `"mse"`, `"bce"`, `"bce_logits"` or
    `"mae"` (the spec's), or the name of a normalised likelihood (see
    `likelihood_from_name`; its decoder returns logits).

    An `AbstractReconstructionLoss` instance (any `AbstractLikelihood` among them) is
    returned as it is, so a custom loss or a configured likelihood can go wherever a
    name can.

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.

    Example:
        >>> from elbox import GaussianLikelihood, reconstruction_loss
        >>> type(reconstruction_loss("mse")).__name__
        'MSELoss'
        >>> likelihood = GaussianLikelihood(variance=0.1)
        >>> reconstruction_loss(likelihood) is likelihood
        True
    """
    if isinstance(loss_type, AbstractReconstructionLoss):
        return loss_type
    if not isinstance(loss_type, str) or loss_type not in LIKELIHOOD_NAMES:
        raise ValueError(
            f"unknown loss_type {loss_type!r}; expected one of {_choices()} or an "
            "elbox.AbstractReconstructionLoss"
        )
    return likelihood_from_name(loss_type)


def likelihood_of(
    loss_type: LikelihoodName | AbstractReconstructionLoss, what: str
) -> AbstractLikelihood:
    """The likelihood of a loss type, for code that needs a normalised density (`what`
    names it in the error).

    Raises:
        ValueError: for an unknown name, or a reconstruction loss that is not an
            `AbstractLikelihood`.
    """
    loss = reconstruction_loss(loss_type)
    if not isinstance(loss, AbstractLikelihood):
        raise ValueError(
            f"{what} needs a likelihood, a normalised distribution whose log_prob "
            f"includes its constant: {type(loss).__name__} is a reconstruction loss "
            "only; pass a name or an elbox.AbstractLikelihood"
        )
    return loss
