"""The disentanglement scores of a model trained on data with ground-truth factors.

Latent codes are posterior means of images of the run's ground-truth data, drawn from a
seeded random state: for the shapes factor grids (`--dataset shapes_grid` or
`shapes_grid_upright`), of the grid's held-out codes, which draw no training, validation or
test image (see `_grid_splits`); for `dsprites`, of the whole data set, as
disentanglement_lib scores it. The scores follow disentanglement_lib's definitions (see
`elbox.metrics`). `Budget` says where fewer points are drawn than there.
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
    training and 5,000 test points for SAP and DCI, 10,000 training and 5,000 evaluation
    votes of 64 observations for the FactorVAE and beta-VAE scores (over a million
    encoded images), and 10,000 points for the FactorVAE score's variances. elbox keeps
    the defaults of MIG and modularity and scales the others down (the variances to 5,000
    points), so that one model's scores take seconds on a CPU: DCI's gradient-boosted
    trees fit one tree per class of each factor and round. Fewer points make a score
    noisier, and a classifier-based score (SAP, DCI, FactorVAE, beta-VAE) trained on
    fewer points is lower on average: compare scores only at the same budget, which
    `evaluation.json` and a study's files record.
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

    def replaced(self, texts: Sequence[str]) -> "Budget":
        """This budget with `NAME=COUNT` items changed (`--budget train=2000`).

        Raises:
            ValueError: for a malformed item, an unknown name or a count below 1.
        """
        names = [field.name for field in dataclasses.fields(self)]
        changes: dict[str, int] = {}
        for text in texts:
            for item in text.split(","):
                name, sep, count = item.partition("=")
                name = name.strip().replace("-", "_")
                if not sep or name not in names:
                    raise ValueError(
                        f"--budget {item!r}: expected NAME=COUNT with NAME one of "
                        f"{', '.join(names)}"
                    )
                try:
                    value = int(count)
                except ValueError:
                    raise ValueError(f"--budget {name}: {count!r} is not a whole number") from None
                minimum = 2 if name in ("points", "variance_points") else 1
                if value < minimum:
                    raise ValueError(f"--budget {name} must be >= {minimum}; got {value}")
                changes[name] = value
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """One sentence for a report: every count the scores drew."""
        return (
            f"Scoring budget: MIG and modularity on {self.points:,} points; SAP and DCI on "
            f"{self.train:,} training and {self.test:,} test points; the FactorVAE and "
            f"beta-VAE scores on "
            f"{self.vote_train:,} training and {self.vote_eval:,} evaluation votes of 64 "
            f"images, the FactorVAE variances on {self.variance_points:,} points."
        )


DEFAULT_BUDGET = Budget()
"""What `elbox eval` and the studies draw, unless a study's `--budget` says otherwise."""

DISENTANGLEMENT_LIB_BUDGET = Budget(
    points=10_000,
    train=10_000,
    test=5_000,
    vote_train=10_000,
    vote_eval=5_000,
    variance_points=10_000,
)
"""disentanglement_lib's defaults (its gin configurations; `elbox.metrics`' defaults)."""


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

    def sample(count: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        factors = grid.sample_factors(count, random)
        return factors, grid.sample_observations_from_factors(factors, random)

    values: dict[str, float] = {}
    if "mig" in names or "modularity" in names:
        factors, images = sample(budget.points)
        latents = represent(images)
        if "mig" in names:
            values["mig"] = mig(latents, factors)
        if "modularity" in names:
            values["modularity"] = modularity(latents, factors)
    if "sap" in names or "dci" in names:
        train_factors, train_images = sample(budget.train)
        test_factors, test_images = sample(budget.test)
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
