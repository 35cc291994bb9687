"""What a trained VAE learned, on held-out data, measured with `elbox.metrics`.

The test negative ELBO and its parts (the trainer's own evaluation), the importance-weighted
bound of log p(x), the KL per latent dimension, the active units and the mutual information
I_q(x; z): everything `elbox train` reports and `elbox eval` prints for any data.
"""

import dataclasses
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from .._custom_types import LossName, Weights
from ..metrics import ACTIVE_THRESHOLD as ACTIVE_THRESHOLD
from ..metrics import (
    active_units,
    kl_per_dimension,
    log_likelihood,
    mutual_information,
    posterior_parameters,
)
from ..trainers._vae_trainer import VAETrainer

LIKELIHOOD_SAMPLES = 1000
"""K of the log-likelihood bound that `elbox train` reports (Burda et al. use 5000)."""

MAX_BOUND_EXAMPLES = 10_000
"""The likelihood bound and the mutual information use at most this many test examples
(the first ones), so that their cost and memory stay bounded on a large own data set."""

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
        mutual_information: I_q(x; z) in nats (He et al. 2019; None when not computed).
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
    seed: int = 0,
    weights: Weights = "trained",
) -> Analysis:
    """Evaluate `vae` on `data` at its current step, with its `"trained"` parameters or
    their `"ema"`.

    The negative ELBO is the trainer's own evaluation (`VAETrainer.evaluate`) over all of
    `data`, in batches; the posterior's statistics are over all of it too. The likelihood
    bound (skipped with `num_samples=0`) and the mutual information use the first
    `MAX_BOUND_EXAMPLES` examples, with keys from `seed`. An Equinox model runs in
    inference mode (BatchNorm on its running statistics), as the metrics run it.
    """
    model = vae.model if weights == "trained" else vae.ema_model
    totals = {"neg_elbo": 0.0, "recon_loss": 0.0}
    means, logvars = [], []
    for start in range(0, len(data), _BATCH):
        batch = np.asarray(data[start : start + _BATCH])
        values = vae.evaluate(batch, loss_type=loss_type, weights=weights)
        for name in totals:
            totals[name] += len(batch) * float(values[name])
        mean, logvar = posterior_parameters(model, batch)
        means.append(np.asarray(mean, np.float64))
        logvars.append(np.asarray(logvar, np.float64))
    n = len(data)
    all_means, all_logvars = np.concatenate(means), np.concatenate(logvars)
    neg_elbo, recon = totals["neg_elbo"] / n, totals["recon_loss"] / n
    key = jax.random.key(seed)
    bounded = min(n, MAX_BOUND_EXAMPLES)
    subset = _array(data, bounded)
    bound: float | None = None
    if num_samples:
        bounds = log_likelihood(
            model,
            subset,
            loss_type=loss_type,
            num_samples=num_samples,
            key=jax.random.fold_in(key, 0),
            batch_size=_BOUND_BATCH,
        )
        bound = float(np.mean(np.asarray(bounds, np.float64)))
    information = mutual_information(
        model, subset, key=jax.random.fold_in(key, 1), batch_size=_BATCH
    )
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
    )
