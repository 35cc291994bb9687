"""What a study measures on each trained seed.

- `collapse`: the test negative ELBO and its parts, the importance-weighted bound of
  log p(x) with K = 1000 samples, the active units and the mutual information I_q(x; z);
- `disentanglement`: the test reconstruction loss and KL, MIG, the FactorVAE and beta-VAE
  scores and DCI disentanglement, on codes of fresh images of the shapes factor grid.

The disentanglement scores follow disentanglement_lib's definitions; `STUDY_BUDGET` says
where the study draws fewer points than their defaults, to fit a study into minutes.
"""

import dataclasses
from typing import Any

import jax
import numpy as np
import numpy.typing as npt

from ..._trainer import VAETrainer
from ...metrics import (
    active_units,
    beta_vae_score,
    dci,
    factor_vae_score,
    log_likelihood,
    mig,
    mutual_information,
    posterior_parameters,
)
from .._options import TrainOptions
from .._run import Splits, shapes_grid
from ._spec import Measures

COLLAPSE_METRICS = (
    "neg_elbo",
    "recon_loss",
    "kl",
    "log_likelihood",
    "active_units",
    "mutual_information",
)
DISENTANGLEMENT_METRICS = (
    "neg_elbo",
    "recon_loss",
    "kl",
    "mig",
    "factor_vae",
    "beta_vae",
    "dci_disentanglement",
)
METRICS: dict[Measures, tuple[str, ...]] = {
    "collapse": COLLAPSE_METRICS,
    "disentanglement": DISENTANGLEMENT_METRICS,
}
"""The metrics each kind of study reports, in table order."""

DESCRIPTIONS = {
    "neg_elbo": "test negative ELBO (nats per example; lower is better)",
    "recon_loss": "its reconstruction part",
    "kl": "its KL part (nats)",
    "log_likelihood": "importance-weighted bound of log p(x), K = 1000 (nats; higher is better)",
    "active_units": "active latent dimensions (posterior-mean variance > 0.01)",
    "mutual_information": "I_q(x; z) (nats; He et al. 2019)",
    "mig": "mutual information gap (0 to 1)",
    "factor_vae": "FactorVAE score (accuracy; chance is 1 / 5)",
    "beta_vae": "beta-VAE score (accuracy; chance is 1 / 5)",
    "dci_disentanglement": "DCI disentanglement (0 to 1)",
}
"""What each metric is, for the study's report."""


@dataclasses.dataclass(frozen=True)
class Budget:
    """How many points the disentanglement scores draw.

    disentanglement_lib's defaults are 10,000 points for MIG, 10,000 training and 5,000
    test points for DCI, and 10,000 training and 5,000 evaluation votes of 64
    observations for the FactorVAE and beta-VAE scores (over a million encoded images).
    The study keeps MIG's and scales the others down, so that one seed's scores take
    seconds on a CPU: DCI's gradient-boosted trees (one per class of each factor, 100
    rounds each) cost about 25 CPU seconds per 1,000 training points on the grid of 10
    rotations. Their sampling error grows accordingly, which the spread over seeds shows.
    """

    mig_points: int = 10_000
    dci_train: int = 500
    dci_test: int = 250
    vote_train: int = 1_000
    vote_eval: int = 500
    variance_points: int = 5_000


STUDY_BUDGET = Budget()
LOG_LIKELIHOOD_SAMPLES = 1000
_EVAL_BATCH = 256


def _test_elbo(
    trainer: VAETrainer[Any], test: npt.NDArray[Any], loss_type: Any
) -> dict[str, float]:
    totals = {"neg_elbo": 0.0, "recon_loss": 0.0}
    for start in range(0, len(test), _EVAL_BATCH):
        batch = test[start : start + _EVAL_BATCH]
        values = trainer.evaluate(batch, loss_type=loss_type)
        for name in totals:
            totals[name] += len(batch) * float(values[name])
    neg_elbo, recon = totals["neg_elbo"] / len(test), totals["recon_loss"] / len(test)
    return {"neg_elbo": neg_elbo, "recon_loss": recon, "kl": neg_elbo - recon}


def _collapse(
    model: Any, test: npt.NDArray[Any], options: TrainOptions, seed: int
) -> dict[str, float]:
    key = jax.random.key(10_000 + seed)
    assert options.loss_type is not None  # resolved when the study was planned
    bound = log_likelihood(
        model,
        test,
        loss_type=options.loss_type,
        num_samples=LOG_LIKELIHOOD_SAMPLES,
        key=key,
        batch_size=64,
    )
    means, _ = posterior_parameters(model, test, batch_size=_EVAL_BATCH)
    return {
        "log_likelihood": float(np.mean(np.asarray(bound))),
        "active_units": float(np.sum(np.asarray(active_units(means)))),
        "mutual_information": mutual_information(
            model, test, key=jax.random.fold_in(key, 1), batch_size=_EVAL_BATCH
        ),
    }


def _disentanglement(
    model: Any, options: TrainOptions, seed: int, budget: Budget
) -> dict[str, float]:
    grid = shapes_grid()
    flat = options.model == "mlp"

    def represent(observations: npt.NDArray[Any]) -> npt.NDArray[Any]:
        x = observations.reshape(len(observations), -1) if flat else observations
        means, _ = posterior_parameters(model, x, batch_size=_EVAL_BATCH)
        return np.asarray(means)

    random = np.random.RandomState(20_000 + seed)
    factors, images = grid.sample(budget.mig_points, random)
    latents = represent(images)
    train_factors, train_images = grid.sample(budget.dci_train, random)
    test_factors, test_images = grid.sample(budget.dci_test, random)
    scores = dci(represent(train_images), train_factors, represent(test_images), test_factors)
    return {
        "mig": mig(latents, factors),
        "factor_vae": factor_vae_score(
            represent,
            grid,
            seed=seed,
            num_train=budget.vote_train,
            num_eval=budget.vote_eval,
            num_variance_estimate=budget.variance_points,
        ),
        "beta_vae": beta_vae_score(
            represent, grid, seed=seed, num_train=budget.vote_train, num_eval=budget.vote_eval
        ),
        "dci_disentanglement": scores.disentanglement,
    }


def measure(
    trainer: VAETrainer[Any],
    options: TrainOptions,
    splits: Splits,
    measures: Measures,
    *,
    seed: int,
    budget: Budget = STUDY_BUDGET,
) -> dict[str, float]:
    """The metrics of one trained seed, by name (see `METRICS`)."""
    test = np.asarray(splits.test[: len(splits.test)])
    values = _test_elbo(trainer, test, options.loss_type)
    if measures == "collapse":
        values.update(_collapse(trainer.model, test, options, seed))
    else:
        values.update(_disentanglement(trainer.model, options, seed, budget))
    return {name: values[name] for name in METRICS[measures]}
