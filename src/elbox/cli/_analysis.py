"""What a trained VAE learned, on held-out data, measured with `elbox.metrics`.

The test negative ELBO and its parts (the trainer's own evaluation), the importance-weighted
bound of log p(x), the KL per latent dimension, the active units and the mutual information
I_q(x; z): everything `elbox train` reports and `elbox eval` prints for any data, under the
run's likelihood, which the analysis names and checks: a log-likelihood is reported only
when the likelihood is a normalised distribution of the data.
"""

import dataclasses
import math
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from .._custom_types import Weights
from ..likelihoods._likelihood import AbstractLikelihood, bits_per_dimension
from ..metrics import ACTIVE_THRESHOLD as ACTIVE_THRESHOLD
from ..metrics import (
    active_units,
    kl_per_dimension,
    log_likelihood,
    mutual_information,
    posterior_parameters,
)
from ..trainers._vae_trainer import VAETrainer
from ._progress import progress

LIKELIHOOD_SAMPLES = 1000
"""K of the log-likelihood bound that `elbox train` reports (Burda et al. use 5000)."""

MAX_BOUND_EXAMPLES = 10_000
"""The likelihood bound and the mutual information use at most this many test examples
(the first ones), so that their cost and memory stay bounded on a large own data set."""

MIN_BOUND_EXAMPLES = 100
"""The end-of-run budget never leaves the bound fewer test examples than this."""

PASSES_PER_TRAINING_EXAMPLE = 3
"""What one example of a training step costs, in passes of the encoder and decoder
(forward and backward); one importance sample of the bound costs one."""


def end_of_run_examples(
    test_examples: int, num_samples: int, *, epochs: int, train_examples: int
) -> int:
    """How many test examples the bound that `elbox train` ends with uses: enough for it
    to cost about what the training did, `3 * epochs * train_examples / K` (each of the K
    samples costs one pass, a training example about three), at least 100, at most
    10,000 and the test split."""
    if num_samples < 1:
        return min(test_examples, MAX_BOUND_EXAMPLES)
    budget = PASSES_PER_TRAINING_EXAMPLE * epochs * train_examples // num_samples
    return min(test_examples, MAX_BOUND_EXAMPLES, max(MIN_BOUND_EXAMPLES, budget))


_BATCH = 256
_BOUND_BATCH = 64


@dataclasses.dataclass(frozen=True)
class LikelihoodRecord:
    """The likelihood a run's numbers are under.

    Attributes:
        name: its name (`--likelihood` or `--loss-type`).
        distribution: the distribution in words.
        normalised: whether it is a normalised distribution of the evaluated data: only
            then are the negative ELBO and the bound those of a log-likelihood.
        discrete: whether the data is discrete under it (a log-probability, reported in
            bits per dimension too).
        support: the data it is a distribution of, in words.
    """

    name: str
    distribution: str
    normalised: bool
    discrete: bool
    support: str

    @classmethod
    def of(
        cls, name: str, likelihood: AbstractLikelihood, *, normalised: bool
    ) -> "LikelihoodRecord":
        """The record of `likelihood`, called `name`, normalised for the data or not."""
        return cls(
            name=name,
            distribution=likelihood.describe(),
            normalised=normalised,
            discrete=likelihood.data_support.discrete,
            support=likelihood.data_support.describe(),
        )


@dataclasses.dataclass(frozen=True)
class Analysis:
    """A trained VAE on held-out data.

    Attributes:
        likelihood: the likelihood the numbers are under.
        dimensions: the values per example (the `D` of bits per dimension).
        neg_elbo: the negative ELBO (reconstruction + KL, weight 1, no free bits), in
            nats per example; the reconstruction is `-log p(x|z)` with the likelihood's
            normalising constant. When the likelihood is not normalised for the data,
            the same sum of its loss and the KL, which bounds no log-likelihood.
        recon_loss: its reconstruction part.
        kl: its KL part.
        kl_per_dimension: the mean KL of each latent dimension.
        mean_variance: the variance over the data of each dimension's posterior mean.
        active: which dimensions are active (`mean_variance > 0.01`).
        num_examples: how many examples were evaluated.
        bound: the importance-weighted bound of log p(x) with `num_samples` samples, in
            nats per example (None when not computed): a log-likelihood bound only when
            the likelihood is normalised for the data (see `log_likelihood`).
        mutual_information: I_q(x; z) in nats (He et al. 2019; None when not computed),
            within its bounds 0 and log N (N: `information_examples`): the Monte Carlo
            estimate clipped to them.
        mutual_information_estimate: the estimate itself, which its sampling error can
            put a little below 0 (or above log N).
        num_samples: K of the bound (0 when not computed).
        bound_examples: how many examples the bound used.
        information_examples: how many examples the mutual information used (N: the
            estimate cannot exceed log N).
    """

    likelihood: LikelihoodRecord
    dimensions: int
    neg_elbo: float
    recon_loss: float
    kl: float
    kl_per_dimension: np.ndarray[Any, np.dtype[np.float64]]
    mean_variance: np.ndarray[Any, np.dtype[np.float64]]
    active: np.ndarray[Any, np.dtype[np.bool_]]
    num_examples: int
    bound: float | None = None
    mutual_information: float | None = None
    num_samples: int = 0
    bound_examples: int = 0
    information_examples: int = 0
    mutual_information_estimate: float | None = None

    @property
    def active_units(self) -> int:
        """How many latent dimensions are active."""
        return int(self.active.sum())

    @property
    def log_likelihood(self) -> float | None:
        """The bound of log p(x) in nats per example, when it is one (computed, and the
        likelihood normalised for the data); None otherwise."""
        return self.bound if self.likelihood.normalised else None

    @property
    def bits_per_dim(self) -> float | None:
        """The bound in bits per dimension, for a log-probability of discrete data."""
        if self.log_likelihood is None or not self.likelihood.discrete:
            return None
        return bits_per_dimension(self.log_likelihood, self.dimensions)

    @property
    def information_ceiling(self) -> float:
        """log N, the most the mutual-information estimate can be on N examples (NaN when
        it was not computed)."""
        return math.log(self.information_examples) if self.information_examples else math.nan

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values. `log_likelihood` (and `bits_per_dim`) only where they are
        of a normalised distribution; the bound of a loss that is none is `loss_bound`."""
        return {
            "likelihood": dataclasses.asdict(self.likelihood),
            "neg_elbo": self.neg_elbo,
            "recon_loss": self.recon_loss,
            "kl": self.kl,
            "log_likelihood": self.log_likelihood,
            "bits_per_dim": self.bits_per_dim,
            "loss_bound": None if self.likelihood.normalised else self.bound,
            "dimensions": self.dimensions,
            "num_samples": self.num_samples,
            "mutual_information": self.mutual_information,
            "information_examples": self.information_examples,
            "information_ceiling": self.information_ceiling,
            "mutual_information_estimate": self.mutual_information_estimate,
            "mutual_information_bounds": [0.0, self.information_ceiling],
            "active_units": self.active_units,
            "latent_dimensions": int(self.active.size),
            "active_threshold": ACTIVE_THRESHOLD,
            "kl_per_dimension": self.kl_per_dimension.tolist(),
            "mean_variance": self.mean_variance.tolist(),
            "num_examples": self.num_examples,
            "bound_examples": self.bound_examples,
        }


@runtime_checkable
class Examples(Protocol):
    """Held-out data: an array, or anything sliced like one (`data[a:b]` gives an array)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice, /) -> Any: ...


def _array(data: Examples, stop: int) -> npt.NDArray[Any]:
    return np.asarray(data[0:stop])


def _observed(likelihood: AbstractLikelihood, batch: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The batch as evaluation sees it (a binarising Bernoulli's fixed binarisation)."""
    # The evaluation likelihood's draws are fixed: the key is not used.
    return np.asarray(likelihood.observe(jnp.asarray(batch), key=jax.random.key(0)))


def analyse(
    vae: VAETrainer[Any],
    data: Examples,
    *,
    likelihood: AbstractLikelihood,
    name: str,
    num_samples: int = LIKELIHOOD_SAMPLES,
    examples: int | None = None,
    seed: int = 0,
    information_data: Examples | None = None,
    weights: Weights = "trained",
) -> Analysis:
    """Evaluate `vae` on `data` at its current step, under `likelihood` (called `name`),
    with its `"trained"` parameters or their `"ema"`.

    The negative ELBO is the trainer's own evaluation (`VAETrainer.evaluate`) over all of
    `data`, in batches; the posterior's statistics are over all of it too, as the
    likelihood observes it (`for_evaluation`: a binarising Bernoulli's fixed
    binarisation). The likelihood bound (skipped with `num_samples=0`) uses the first
    `examples` examples (default: all, at most `MAX_BOUND_EXAMPLES`), with keys from
    `seed`; so does the mutual information, on `information_data` when given (more
    examples raise the estimate's ceiling, log N). An Equinox model runs in inference
    mode (BatchNorm on its running statistics), as the metrics run it. On a terminal, a
    bar shows each pass's progress.
    """
    model = vae.model if weights == "trained" else vae.ema_model
    evaluation = likelihood.for_evaluation()
    neg_elbo_total = 0.0
    means, logvars = [], []
    normalised = True
    with progress(len(data), "evaluating the test split") as bar:
        for start in range(0, len(data), _BATCH):
            batch = np.asarray(data[start : start + _BATCH])
            values = vae.evaluate(batch, loss_type=likelihood, weights=weights)
            neg_elbo_total += len(batch) * float(values["neg_elbo"])
            observed = _observed(evaluation, batch)
            normalised = normalised and likelihood.normalised_for(batch)
            mean, logvar = posterior_parameters(model, observed)
            means.append(np.asarray(mean, np.float64))
            logvars.append(np.asarray(logvar, np.float64))
            bar.update(len(batch))
    n = len(data)
    all_means, all_logvars = np.concatenate(means), np.concatenate(logvars)
    per_dimension = np.asarray(
        kl_per_dimension(jnp.asarray(all_means), jnp.asarray(all_logvars)), np.float64
    )
    neg_elbo, kl = neg_elbo_total / n, float(per_dimension.sum())
    key = jax.random.key(seed)
    bounded = min(n, MAX_BOUND_EXAMPLES if examples is None else examples)
    subset = _array(data, bounded)
    bound: float | None = None
    if num_samples:
        bound = _likelihood_bound(
            model, subset, likelihood, num_samples, jax.random.fold_in(key, 0)
        )
    if information_data is None:
        information_subset = subset
    else:
        information_subset = _array(
            information_data, min(len(information_data), MAX_BOUND_EXAMPLES)
        )
    estimate = mutual_information(
        model,
        _observed(evaluation, information_subset),
        key=jax.random.fold_in(key, 1),
        batch_size=_BATCH,
    )
    information = min(max(estimate, 0.0), math.log(len(information_subset)))
    return Analysis(
        likelihood=LikelihoodRecord.of(name, likelihood, normalised=normalised),
        dimensions=math.prod(subset.shape[1:]),
        neg_elbo=neg_elbo,
        recon_loss=neg_elbo - kl,
        kl=kl,
        kl_per_dimension=per_dimension,
        mean_variance=all_means.var(axis=0),
        active=np.asarray(active_units(jnp.asarray(all_means))),
        num_examples=n,
        bound=bound,
        mutual_information=information,
        num_samples=num_samples,
        bound_examples=bounded,
        information_examples=len(information_subset),
        mutual_information_estimate=estimate,
    )


def _likelihood_bound(
    model: Any,
    subset: npt.NDArray[Any],
    likelihood: AbstractLikelihood,
    num_samples: int,
    key: Any,
) -> float:
    """The mean importance-weighted bound over `subset`, a batch at a time (with a bar)."""
    total = 0.0
    with progress(len(subset), f"log-likelihood bound (K={num_samples})") as bar:
        for start in range(0, len(subset), _BOUND_BATCH):
            batch = subset[start : start + _BOUND_BATCH]
            bounds = log_likelihood(
                model,
                batch,
                loss_type=likelihood,
                num_samples=num_samples,
                key=jax.random.fold_in(key, start),
                batch_size=_BOUND_BATCH,
            )
            total += float(np.sum(np.asarray(bounds, np.float64)))
            bar.update(len(batch))
    return total / len(subset)
