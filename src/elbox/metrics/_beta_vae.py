"""The beta-VAE disentanglement metric (Higgins et al., 2017), as disentanglement_lib."""

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from .._validation import checked_int
from ._checks import checked_seed
from ._ground_truth import (
    GroundTruthData,
    Representation,
    check_ground_truth,
    factors_sharing,
    point_groups,
    represent_batch,
    sample_factors,
)


def beta_vae_score(
    represent: Representation,
    data: GroundTruthData,
    *,
    seed: int,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
) -> float:
    """The beta-VAE metric: the accuracy of a linear classifier of the fixed factor.

    Higgins et al. (2017, "beta-VAE: learning basic visual concepts with a constrained
    variational framework", sec. 3), as google-research/disentanglement_lib computes it
    (`evaluation/metrics/beta_vae.py`, `compute_beta_vae_sklearn`, with the defaults of
    its `beta_vae_sklearn.gin`, which are this function's):

    1. a point: pick a factor k at random, draw two batches of `batch_size` factor codes
       that agree on factor k (pair by pair), represent both batches' observations, and
       take the mean over the batch of the absolute difference between paired codes:
       a feature vector of length `latent`, labelled k;
    2. `sklearn.linear_model.LogisticRegression(random_state=random_state)` (default
       settings otherwise) learns the label from `num_train` points;
    3. the score is its accuracy on `num_eval` new points.

    Everything random is drawn from `np.random.RandomState(seed)`, in the reference's
    order, so the score is reproducible. The classifier is the one the reference's call
    gives with the installed scikit-learn: L-BFGS, multinomial (when the metric was
    written, in 2019, scikit-learn 0.20 gave liblinear, one-vs-rest, for the same call).
    A `ConvergenceWarning` from it is silenced: its settings are part of the metric's
    definition.

    Args:
        represent: maps a batch of observations (a NumPy array, as `data` returns them)
            to their latent codes, shape `(batch, latent)`: the posterior means, say. It
            is called on up to 4096 observations at once (the batches of several points
            stacked, which is faster than the reference's batch at a time), so each code
            must depend on its own observation only, as an encoder's in inference mode.
        data: ground-truth data, with `factors_num_values`, `sample_factors` and
            `sample_observations_from_factors` (see
            [`GroundTruthData`][elbox.metrics.GroundTruthData]).
        seed: the seed of the random state.
        batch_size: pairs of observations per point.
        num_train: training points.
        num_eval: evaluation points.

    Returns:
        The evaluation accuracy, between 0 and 1; chance is `1 / num_factors`.

    Raises:
        TypeError: for `data` without the three members.
        ValueError: for counts below 1, a seed outside [0, 2**32), training points that
            all fix the same factor (too few of them), or a `represent` or `data` that
            returns arrays of the wrong shape.

    Example:
        >>> import numpy as np
        >>> from elbox.metrics import beta_vae_score
        >>> class Identity:  # observations that are the factors themselves
        ...     factors_num_values = (4, 5, 6)
        ...     def sample_factors(self, num, random_state):
        ...         return np.stack([random_state.randint(n, size=num)
        ...                          for n in self.factors_num_values], axis=1)
        ...     def sample_observations_from_factors(self, factors, random_state):
        ...         return factors.astype(np.float32)
        >>> beta_vae_score(lambda x: x, Identity(), seed=0, num_train=200, num_eval=100)
        1.0
    """
    num_factors = check_ground_truth(data, "beta_vae_score")
    random_state = np.random.RandomState(checked_seed(seed))
    batch = checked_int("", "batch_size", batch_size, 1)
    train = checked_int("", "num_train", num_train, 1)
    evaluate = checked_int("", "num_eval", num_eval, 1)

    def points(num_points: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        features: list[npt.NDArray[Any]] = []
        labels = np.zeros(num_points, np.int64)
        done = 0
        for group in point_groups(num_points, 2 * batch):
            # Each point's draws in the reference's order; one call of `represent` for all.
            observations = []
            for i in range(done, done + group):
                labels[i] = random_state.randint(num_factors)
                first = sample_factors(data, batch, random_state, num_factors)
                second = factors_sharing(data, first, int(labels[i]), random_state, num_factors)
                observations.append(data.sample_observations_from_factors(first, random_state))
                observations.append(data.sample_observations_from_factors(second, random_state))
            latents = represent_batch(represent, np.concatenate(observations))
            pairs = latents.reshape(group, 2, batch, -1)
            features.append(np.mean(np.abs(pairs[:, 0] - pairs[:, 1]), axis=1))
            done += group
        return np.concatenate(features), labels

    train_points, train_labels = points(train)
    if np.unique(train_labels).size < 2:
        raise ValueError(
            f"beta_vae_score: all {train} training points fix the same factor, so there is "
            "nothing to classify; use a larger num_train"
        )
    # scikit-learn ships no type information.
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train_points, train_labels)
    eval_points, eval_labels = points(evaluate)
    return float(model.score(eval_points, eval_labels))
