"""The likelihood of a run: chosen by `--likelihood` (or `--loss-type`), or the default for
its data, and checked against that data before anything trains."""

from typing import Any, Final

import numpy as np

from .._custom_types import LikelihoodName
from ..likelihoods._by_name import likelihood_from_name
from ..likelihoods._likelihood import AbstractLikelihood
from ..likelihoods._spec_losses import BCELoss, BCEWithLogitsLoss
from ._errors import RunError
from ._options import TrainOptions, decoder_output, likelihood_name

DEFAULT_UNIT_LIKELIHOOD: Final = "continuous_bernoulli"
"""The likelihood of data in [0, 1] when none is chosen. The continuous Bernoulli is a
normalised density on [0, 1] (Loaiza-Ganem & Cunningham 2019), so the run's negative ELBO
and likelihood bound are those of a distribution of the data; it reads the decoder's
logits, one per value, as the spec's `bce_logits` does, and costs the same per step.
`bce_logits`, the default before, is a distribution of binary data only: on grey levels
it is a cross-entropy, not a log-likelihood."""

BINARY_DATASETS: Final = ("shapes", "shapes_grid", "binarized_mnist", "dsprites")
"""The bundled and standard data sets of binary images, whose default is `bce_logits`
(`bce` with a sigmoid decoder): a Bernoulli is the distribution of binary data, and its
log-likelihood a log-probability, reported in bits per dimension too."""

DEFAULT_OTHER_LOSS: Final = "mse"
"""The loss of data outside [0, 1] when none is chosen: the Gaussian of variance 1/2,
whose log-density elbox reports with its constant."""

SUPPORT_CHECKED_EXAMPLES: Final = 10_000
"""How many training examples (the first ones) are checked to lie in the support of a
chosen likelihood, so that the check's cost stays bounded on a large own data set."""


def default_likelihood(options: TrainOptions, *, in_unit_interval: bool) -> dict[str, str]:
    """The likelihood of a run that chose none, as the option it sets: `bce_logits` (`bce`
    with a sigmoid decoder) for the binary data sets, `continuous_bernoulli` for other
    data in [0, 1], the loss type `mse` for data beyond."""
    if not in_unit_interval:
        return {"loss_type": DEFAULT_OTHER_LOSS}
    if options.data is None and options.dataset in BINARY_DATASETS:
        return {"likelihood": "bce" if options.decoder_output == "sigmoid" else "bce_logits"}
    return {"likelihood": DEFAULT_UNIT_LIKELIHOOD}


def run_likelihood(options: TrainOptions) -> AbstractLikelihood:
    """The likelihood of a run whose options are resolved (`resolve_options`)."""
    name = likelihood_name(options)
    if name is None:
        raise AssertionError("the run's likelihood is resolved when it starts")
    chosen: LikelihoodName = name  # type: ignore[assignment]  # a name of the options' Literal
    return likelihood_from_name(chosen, logits=decoder_output(options) == "logits")


def check_likelihood_data(options: TrainOptions, examples: Any) -> None:
    """Refuse a likelihood chosen for data outside its support: a density of [0, 1] for
    data beyond it, a discretised logistic for data that is not 8-bit. The spec's `bce`
    and `bce_logits` train on grey levels as they always have; their reports say that
    they are no likelihood of such data.

    Raises:
        RunError: naming the likelihood, what it needs and what the data is.
    """
    likelihood = run_likelihood(options)
    if isinstance(likelihood, BCELoss | BCEWithLogitsLoss):
        return
    sample = np.asarray(examples[0:SUPPORT_CHECKED_EXAMPLES])
    if not likelihood.normalised_for(sample):
        support = likelihood.data_support
        raise RunError(
            f"--likelihood {likelihood_name(options)} is a distribution of "
            f"{support.describe()}, and the training data holds other values: choose a "
            "likelihood of this data (continuous_bernoulli for [0, 1], gaussian for any "
            "real values)"
        )
