"""What a study measures on each trained seed.

- `collapse`: the test negative ELBO and its parts, the importance-weighted bound of
  log p(x) with K = 1000 samples, the active units and the mutual information I_q(x; z)
  (what `elbox train` reports, from `_analysis.analyse`);
- `disentanglement`: the test negative ELBO and its parts, MIG, the FactorVAE and beta-VAE
  scores and DCI disentanglement, on codes of images of the ground-truth data (see
  `_disentanglement`, whose `Budget` says where fewer points are drawn than in
  disentanglement_lib).
"""

from typing import Any

from ...trainers._vae_trainer import VAETrainer
from .._analysis import LIKELIHOOD_SAMPLES, analyse
from .._disentanglement import disentanglement_scores
from .._options import TrainOptions
from .._run_files import weights_of
from .._splits import Splits
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


def measure(
    trainer: VAETrainer[Any],
    options: TrainOptions,
    splits: Splits,
    measures: Measures,
    *,
    seed: int,
) -> dict[str, float]:
    """The metrics of one trained seed, by name (see `METRICS`)."""
    assert options.loss_type is not None  # resolved when the study was planned
    collapse = measures == "collapse"
    weights = weights_of(options.ema_decay)
    analysis = analyse(
        trainer,
        splits.test,
        loss_type=options.loss_type,
        num_samples=LIKELIHOOD_SAMPLES if collapse else 0,
        seed=10_000 + seed,
        weights=weights,
    )
    values = {
        "neg_elbo": analysis.neg_elbo,
        "recon_loss": analysis.recon_loss,
        "kl": analysis.kl,
        "log_likelihood": analysis.log_likelihood or float("nan"),
        "active_units": float(analysis.active_units),
        "mutual_information": float(analysis.mutual_information or float("nan")),
    }
    if not collapse:
        scores = ("mig", "factor_vae", "beta_vae", "dci")
        model = trainer.model if weights == "trained" else trainer.ema_model
        values.update(disentanglement_scores(model, options, scores, seed=seed))
    return {name: values[name] for name in METRICS[measures]}
