"""What a trained VAE learned, on held-out data, measured with `elbox.metrics`.

The test negative ELBO and its parts (the trainer's own evaluation), the importance-weighted
bound of log p(x), the KL per latent dimension, the active units and the mutual information
I_q(x; z): everything `elbox train` reports and `elbox eval` prints for any data.
"""

import dataclasses
import math
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from .._custom_types import LossName
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
class Analysis:
    """A trained VAE on held-out data.

    Attributes:
        neg_elbo: the negative ELBO (reconstruction + KL, weight 1, no free bits), in
            nats per example.
        recon_loss: its reconstruction part.
        kl: its KL part.
        kl_per_dimension: the mean KL of each latent dimension.
        mean_variance: the variance over the data of each dimension's posterior mean.
        active: which dimensions are active (`mean_variance > 0.01`).
        num_examples: how many examples were evaluated.
        log_likelihood: the importance-weighted bound of log p(x) with `num_samples`
            samples, in nats per example (None when not computed).
        mutual_information: I_q(x; z) in nats (He et al. 2019; None when not computed),
            within its bounds 0 and log N (N: `bound_examples`): the Monte Carlo estimate
            clipped to them.
        mutual_information_estimate: the estimate itself, which its sampling error can
            put a little below 0 (or above log N).
        num_samples: K of the bound (0 when not computed).
        bound_examples: how many examples the bound and the mutual information used.
    """

    neg_elbo: float
    recon_loss: float
    kl: float
    kl_per_dimension: np.ndarray[Any, np.dtype[np.float64]]
    mean_variance: np.ndarray[Any, np.dtype[np.float64]]
    active: np.ndarray[Any, np.dtype[np.bool_]]
    num_examples: int
    log_likelihood: float | None = None
    mutual_information: float | None = None
    num_samples: int = 0
    bound_examples: int = 0
    mutual_information_estimate: float | None = None

    @property
    def mutual_information_max(self) -> float:
        """The upper bound of the mutual information estimate: log N."""
        return math.log(max(1, self.bound_examples))

    @property
    def active_units(self) -> int:
        """How many latent dimensions are active."""
        return int(self.active.sum())

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "neg_elbo": self.neg_elbo,
            "recon_loss": self.recon_loss,
            "kl": self.kl,
            "log_likelihood": self.log_likelihood,
            "num_samples": self.num_samples,
            "mutual_information": self.mutual_information,
            "mutual_information_estimate": self.mutual_information_estimate,
            "mutual_information_bounds": [0.0, self.mutual_information_max],
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


def analyse(
    vae: VAETrainer[Any],
    data: Examples,
    *,
    loss_type: LossName,
    num_samples: int = LIKELIHOOD_SAMPLES,
    examples: int | None = None,
    seed: int = 0,
) -> Analysis:
    """Evaluate `vae` on `data` at its current step.

    The negative ELBO is the trainer's own evaluation (`VAETrainer.evaluate`) over all of
    `data`, in batches; the posterior's statistics are over all of it too. The likelihood
    bound (skipped with `num_samples=0`) and the mutual information use the first
    `examples` examples (default: all, at most `MAX_BOUND_EXAMPLES`), with keys from
    `seed`. On a terminal, a bar shows each pass's progress.
    """
    model = vae.model
    totals = {"neg_elbo": 0.0, "recon_loss": 0.0}
    means, logvars = [], []
    with progress(len(data), "evaluating the test split") as bar:
        for start in range(0, len(data), _BATCH):
            batch = np.asarray(data[start : start + _BATCH])
            values = vae.evaluate(batch, loss_type=loss_type)
            for name in totals:
                totals[name] += len(batch) * float(values[name])
            mean, logvar = posterior_parameters(model, batch)
            means.append(np.asarray(mean, np.float64))
            logvars.append(np.asarray(logvar, np.float64))
            bar.update(len(batch))
    n = len(data)
    all_means, all_logvars = np.concatenate(means), np.concatenate(logvars)
    neg_elbo, recon = totals["neg_elbo"] / n, totals["recon_loss"] / n
    key = jax.random.key(seed)
    bounded = min(n, MAX_BOUND_EXAMPLES if examples is None else examples)
    subset = _array(data, bounded)
    bound: float | None = None
    if num_samples:
        bound = _likelihood_bound(model, subset, loss_type, num_samples, jax.random.fold_in(key, 0))
    estimate = mutual_information(model, subset, key=jax.random.fold_in(key, 1), batch_size=_BATCH)
    information = min(max(estimate, 0.0), math.log(bounded))
    return Analysis(
        neg_elbo=neg_elbo,
        recon_loss=recon,
        kl=neg_elbo - recon,
        kl_per_dimension=np.asarray(
            kl_per_dimension(jnp.asarray(all_means), jnp.asarray(all_logvars)), np.float64
        ),
        mean_variance=all_means.var(axis=0),
        active=np.asarray(active_units(jnp.asarray(all_means))),
        num_examples=n,
        log_likelihood=bound,
        mutual_information=information,
        num_samples=num_samples,
        bound_examples=bounded,
        mutual_information_estimate=estimate,
    )


def _likelihood_bound(
    model: Any, subset: npt.NDArray[Any], loss_type: LossName, num_samples: int, key: Any
) -> float:
    """The mean importance-weighted bound over `subset`, a batch at a time (with a bar)."""
    total = 0.0
    with progress(len(subset), f"log-likelihood bound (K={num_samples})") as bar:
        for start in range(0, len(subset), _BOUND_BATCH):
            batch = subset[start : start + _BOUND_BATCH]
            bounds = log_likelihood(
                model,
                batch,
                loss_type=loss_type,
                num_samples=num_samples,
                key=jax.random.fold_in(key, start),
                batch_size=_BOUND_BATCH,
            )
            total += float(np.sum(np.asarray(bounds, np.float64)))
            bar.update(len(batch))
    return total / len(subset)
