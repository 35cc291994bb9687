"""What a study measures on each trained seed.

- `collapse`: the test negative ELBO and its parts, the importance-weighted bound of
  log p(x) with K = 1000 samples, the active units (what `elbox train` reports, from
  `_analysis.analyse`), and the mutual information I_q(x; z) on every example of the data
  set (up to 10,000: test, validation, then training examples), with its ceiling log N
  beside it;
- `disentanglement`: the test negative ELBO and its parts, MIG, the FactorVAE and beta-VAE
  scores and DCI disentanglement, on codes of images of the ground-truth data (see
  `_disentanglement`, whose `Budget` says where fewer points are drawn than in
  disentanglement_lib);
- `iwae`: the test negative ELBO, the bound with K = 1000, the active units, and the
  encoder's and decoder's gradient signal-to-noise ratios (`elbox.metrics.gradient_snr`)
  of the run's own IWAE estimator at the trained parameters, on the first test examples.
"""

from typing import Any

import jax
import numpy as np

from ...metrics._gradient_snr import gradient_snr
from ...objectives._iwae import IWAEObjective
from ...trainers._vae_trainer import VAETrainer
from .._analysis import LIKELIHOOD_SAMPLES, MAX_BOUND_EXAMPLES, analyse
from .._disentanglement import DEFAULT_BUDGET, Budget, disentanglement_scores
from .._likelihood import run_likelihood
from .._options import TrainOptions, likelihood_name
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
    "mi_ceiling",
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
IWAE_METRICS = (
    "neg_elbo",
    "log_likelihood",
    "active_units",
    "encoder_snr",
    "decoder_snr",
)
METRICS: dict[Measures, tuple[str, ...]] = {
    "collapse": COLLAPSE_METRICS,
    "disentanglement": DISENTANGLEMENT_METRICS,
    "iwae": IWAE_METRICS,
}
"""The metrics each kind of study reports, in table order."""

DESCRIPTIONS = {
    "neg_elbo": (
        "test negative ELBO under the run's likelihood (nats per example; lower is better; "
        "the reconstruction loss plus the KL where the likelihood is no distribution of "
        "the data)"
    ),
    "recon_loss": "its reconstruction part, -log p(x|z)",
    "kl": "its KL part (nats)",
    "log_likelihood": (
        "importance-weighted bound of log p(x), K = 1000 (nats; higher is better; empty "
        "where the likelihood is no distribution of the data)"
    ),
    "active_units": "active latent dimensions (posterior-mean variance > 0.01)",
    "mutual_information": (
        "estimate of I_q(x; z) (nats; He et al. 2019) on N examples of the data set: it "
        "cannot exceed log N, and the true value is at most the KL term (Hoffman and "
        "Johnson 2016)"
    ),
    "mi_ceiling": "log N, the most the mutual-information estimate can be (N examples)",
    "mig": "mutual information gap (0 to 1)",
    "factor_vae": "FactorVAE score (accuracy; chance is 1 / 5)",
    "beta_vae": "beta-VAE score (accuracy; chance is 1 / 5)",
    "dci_disentanglement": "DCI disentanglement (0 to 1)",
    "encoder_snr": (
        "the encoder's gradient signal-to-noise ratio, |mean| / std over 100 draws, "
        "averaged over its parameters (Rainforth et al. 2018)"
    ),
    "decoder_snr": "the decoder's, likewise",
}
"""What each metric is, for the study's report."""

CEILINGS = {"mutual_information": "mi_ceiling"}
"""Metrics whose estimate has a ceiling, and the column that holds it."""


def information_examples(splits: Splits, limit: int = MAX_BOUND_EXAMPLES) -> Any:
    """The examples of the mutual information: the test split, then validation, then
    training examples, `limit` at most (every example of the digits: 1,797)."""
    parts, count = [], 0
    for split in (splits.test, splits.validation, splits.train):
        take = min(len(split), limit - count)
        if take > 0:
            parts.append(np.asarray(split[0:take]))
            count += take
    return np.concatenate(parts)


SNR_EXAMPLES = 64
"""The test examples of the gradient SNR's batch."""
SNR_DRAWS = 100
"""The gradient draws of the SNR."""


def measure(
    trainer: VAETrainer[Any],
    options: TrainOptions,
    splits: Splits,
    measures: Measures,
    *,
    seed: int,
    budget: Budget | None = None,
) -> dict[str, float]:
    """The metrics of one trained seed, by name (see `METRICS`); the disentanglement
    scores with `budget` (default: `elbox eval`'s)."""
    collapse = measures in ("collapse", "iwae")
    weights = weights_of(options.ema_decay)
    likelihood = run_likelihood(options)
    analysis = analyse(
        trainer,
        splits.test,
        likelihood=likelihood,
        name=str(likelihood_name(options)),
        num_samples=LIKELIHOOD_SAMPLES if collapse else 0,
        seed=10_000 + seed,
        information_data=information_examples(splits) if collapse else None,
        weights=weights,
    )
    values = {
        "neg_elbo": analysis.neg_elbo,
        "recon_loss": analysis.recon_loss,
        "kl": analysis.kl,
        # NaN where there is none: not computed, or the likelihood is no distribution of
        # the data (the spec's bce on grey levels), whose bound is no log-likelihood.
        "log_likelihood": (
            float("nan") if analysis.log_likelihood is None else analysis.log_likelihood
        ),
        "active_units": float(analysis.active_units),
        "mutual_information": float(analysis.mutual_information or float("nan")),
        "mi_ceiling": analysis.information_ceiling,
    }
    if measures == "iwae":
        # The run's own estimator, on fixed data (a binarisation made fixed).
        objective = IWAEObjective(
            options.num_samples,
            gradient=options.gradient,
            loss_type=likelihood.for_evaluation(),
        )
        snr = gradient_snr(
            trainer.model,
            np.asarray(splits.test[:SNR_EXAMPLES]),
            objective=objective,
            num_draws=SNR_DRAWS,
            key=jax.random.key(20_000 + seed),
        )
        values.update(encoder_snr=snr.encoder, decoder_snr=snr.decoder)
    if not collapse:
        scores = ("mig", "factor_vae", "beta_vae", "dci")
        model = trainer.model if weights == "trained" else trainer.ema_model
        values.update(
            disentanglement_scores(
                model, options, scores, seed=seed, budget=budget or DEFAULT_BUDGET
            )
        )
    return {name: values[name] for name in METRICS[measures]}
