"""The disentanglement scores of a model trained on data with ground-truth factors.

Latent codes are posterior means of images of the run's ground-truth data (`--dataset
shapes_grid` or `dsprites`) at factor codes drawn from a seeded random state; the scores
follow disentanglement_lib's definitions (see `elbox.metrics`). `Budget` says where fewer
points are drawn than there.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..metrics import (
    beta_vae_score,
    dci,
    factor_vae_score,
    mig,
    modularity,
    posterior_parameters,
    sap,
)
from ._ground_truth import ground_truth_data
from ._options import TrainOptions

SCORES = ("mig", "sap", "modularity", "dci", "factor_vae", "beta_vae")
"""The scores by name: `dci` gives `dci_disentanglement`, `dci_completeness` and
`dci_informativeness`."""

_BATCH = 256


@dataclasses.dataclass(frozen=True)
class Budget:
    """How many points the disentanglement scores draw.

    disentanglement_lib's defaults are 10,000 points for MIG and modularity, 10,000
    training and 5,000 test points for SAP and DCI, and 10,000 training and 5,000
    evaluation votes of 64 observations for the FactorVAE and beta-VAE scores (over a
    million encoded images). elbox keeps the defaults of MIG and modularity and scales the
    others down, so that one model's scores take seconds on a CPU: DCI's gradient-boosted
    trees (one per class of each factor, 100 rounds each) cost about 25 CPU seconds per
    1,000 training points on the grid of 10 rotations. Their sampling error grows
    accordingly, which the spread over seeds in a study shows.
    """

    points: int = 10_000
    """MIG and modularity."""
    train: int = 500
    """SAP and DCI: training points."""
    test: int = 250
    """SAP and DCI: test points."""
    vote_train: int = 1_000
    """FactorVAE and beta-VAE scores: training votes."""
    vote_eval: int = 500
    """FactorVAE and beta-VAE scores: evaluation votes."""
    variance_points: int = 5_000
    """FactorVAE score: points for the latents' variances."""


DEFAULT_BUDGET = Budget()


def disentanglement_scores(
    model: Any,
    options: TrainOptions,
    names: Sequence[str],
    *,
    seed: int,
    budget: Budget | None = None,
) -> dict[str, float]:
    """The scores in `names` (from `SCORES`) of `model`, trained with `options`, with
    `budget` (default: `DEFAULT_BUDGET`)."""
    budget = DEFAULT_BUDGET if budget is None else budget
    grid = ground_truth_data(options)
    flat = options.model == "mlp"

    def represent(observations: npt.NDArray[Any]) -> npt.NDArray[Any]:
        x = observations.reshape(len(observations), -1) if flat else observations
        means, _ = posterior_parameters(model, x, batch_size=_BATCH)
        return np.asarray(means)

    random = np.random.RandomState(20_000 + seed)
    values: dict[str, float] = {}
    if "mig" in names or "modularity" in names:
        factors, images = grid.sample(budget.points, random)
        latents = represent(images)
        if "mig" in names:
            values["mig"] = mig(latents, factors)
        if "modularity" in names:
            values["modularity"] = modularity(latents, factors)
    if "sap" in names or "dci" in names:
        train_factors, train_images = grid.sample(budget.train, random)
        test_factors, test_images = grid.sample(budget.test, random)
        train_latents, test_latents = represent(train_images), represent(test_images)
        if "sap" in names:
            values["sap"] = sap(train_latents, train_factors, test_latents, test_factors)
        if "dci" in names:
            scores = dci(train_latents, train_factors, test_latents, test_factors)
            values["dci_disentanglement"] = scores.disentanglement
            values["dci_completeness"] = scores.completeness
            values["dci_informativeness"] = scores.informativeness
    if "factor_vae" in names:
        values["factor_vae"] = factor_vae_score(
            represent,
            grid,
            seed=seed,
            num_train=budget.vote_train,
            num_eval=budget.vote_eval,
            num_variance_estimate=budget.variance_points,
        )
    if "beta_vae" in names:
        values["beta_vae"] = beta_vae_score(
            represent, grid, seed=seed, num_train=budget.vote_train, num_eval=budget.vote_eval
        )
    return values
