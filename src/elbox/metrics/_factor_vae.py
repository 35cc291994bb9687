"""The FactorVAE disentanglement metric (Kim and Mnih, 2018), as disentanglement_lib."""

import numpy as np
import numpy.typing as npt

from .._validation import checked_int, checked_non_negative_float
from ._checks import checked_seed
from ._ground_truth import (
    GroundTruthData,
    Representation,
    check_ground_truth,
    factors_sharing,
    point_groups,
    represent_batch,
    represent_in_batches,
    sample_factors,
)


def factor_vae_score(
    represent: Representation,
    data: GroundTruthData,
    *,
    seed: int,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
) -> float:
    """The FactorVAE metric: the accuracy of a majority-vote classifier of the fixed factor.

    Kim and Mnih (2018, "Disentangling by factorising", sec. 4), as
    google-research/disentanglement_lib computes it (`evaluation/metrics/factor_vae.py`,
    `compute_factor_vae`, with the defaults of its `factor_vae_metric.gin`, which are
    this function's):

    1. the variance of each latent dimension over `num_variance_estimate` random
       observations (`ddof=1`); dimensions whose standard deviation is below
       `prune_threshold` are pruned (collapsed to the prior);
    2. a training point: pick a factor k at random, draw `batch_size` factor codes with
       factor k fixed to one value, represent their observations, divide each active
       dimension's variance over the batch by its global variance, and vote for the pair
       (k, the dimension with the smallest ratio);
    3. `num_train` training points make a table of votes; the classifier maps each
       dimension to the factor with most votes for it;
    4. the score is the classifier's accuracy on `num_eval` new points.

    Everything random is drawn from `np.random.RandomState(seed)`, in the reference's
    order, so the score is reproducible. With no active dimension the score is 0.

    Differs from disentanglement_lib in one place, a bug fix: the reference takes the
    `argmin` over the *active* dimensions and uses it as an index into all of them
    (`_generate_training_sample`: `np.argmin(local_variances[active_dims] / ...)`, then
    `votes[factor_index, argmin]` in `_generate_training_batch`), so once a dimension is
    pruned, votes land on the wrong dimensions. Here the argmin is mapped back to the
    dimension it names. The score itself does not change (a majority vote does not care
    how the dimensions are numbered), but which dimension each factor is assigned to
    does.

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
        batch_size: observations per training point, at least 2.
        num_train: training points (votes).
        num_eval: evaluation points.
        num_variance_estimate: observations for the global variances, at least 2.
        prune_threshold: the standard deviation below which a dimension is pruned.

    Returns:
        The evaluation accuracy, between 0 and 1; chance is `1 / num_factors`.

    Raises:
        TypeError: for `data` without the three members.
        ValueError: for counts below their minimum, a negative `prune_threshold`, a seed
            outside [0, 2**32), or a `represent` or `data` that returns arrays of the
            wrong shape.

    Example:
        >>> import numpy as np
        >>> from elbox.metrics import factor_vae_score
        >>> class Identity:  # observations that are the factors themselves
        ...     factors_num_values = (4, 5, 6)
        ...     def sample_factors(self, num, random_state):
        ...         return np.stack([random_state.randint(n, size=num)
        ...                          for n in self.factors_num_values], axis=1)
        ...     def sample_observations_from_factors(self, factors, random_state):
        ...         return factors.astype(np.float32)
        >>> factor_vae_score(  # a perfect representation
        ...     lambda x: x, Identity(), seed=0,
        ...     num_train=200, num_eval=100, num_variance_estimate=1000,
        ... )
        1.0
    """
    num_factors = check_ground_truth(data, "factor_vae_score")
    random_state = np.random.RandomState(checked_seed(seed))
    batch = checked_int("", "batch_size", batch_size, 2)
    train = checked_int("", "num_train", num_train, 1)
    evaluate = checked_int("", "num_eval", num_eval, 1)
    estimate = checked_int("", "num_variance_estimate", num_variance_estimate, 2)
    threshold = checked_non_negative_float("", "prune_threshold", prune_threshold)

    tables = vote_tables(
        represent,
        data,
        random_state,
        num_factors=num_factors,
        batch_size=batch,
        num_train=train,
        num_eval=evaluate,
        num_variance_estimate=estimate,
        prune_threshold=threshold,
    )
    if tables is None:
        return 0.0
    training_votes, eval_votes = tables
    classifier = np.argmax(training_votes, axis=0)
    correct = eval_votes[classifier, np.arange(eval_votes.shape[1])]
    return float(np.sum(correct) / np.sum(eval_votes))


def vote_tables(
    represent: Representation,
    data: GroundTruthData,
    random_state: np.random.RandomState,
    *,
    num_factors: int,
    batch_size: int,
    num_train: int,
    num_eval: int,
    num_variance_estimate: int,
    prune_threshold: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """The training and evaluation votes, `(num_factors, latent)`; None if all are pruned."""
    factors = sample_factors(data, num_variance_estimate, random_state, num_factors)
    observations = data.sample_observations_from_factors(factors, random_state)
    latents = represent_in_batches(represent, observations)
    global_variances = np.var(latents, axis=0, ddof=1)
    sharing = hasattr(data, "sample_factors_sharing")
    # A dimension of variance 0 is pruned even at `prune_threshold=0` (the reference would
    # divide by 0 there).
    active = np.flatnonzero((np.sqrt(global_variances) >= prune_threshold) & (global_variances > 0))
    if active.size == 0:
        return None

    def votes(num_points: int) -> npt.NDArray[np.int64]:
        table = np.zeros((num_factors, global_variances.shape[0]), np.int64)
        for group in point_groups(num_points, batch_size):
            # Each point's draws in the reference's order; one call of `represent` for all.
            fixed, observations = [], []
            for _ in range(group):
                factor_index = random_state.randint(num_factors)
                if sharing:
                    # The fixed value from one free draw, the others among codes with it.
                    first = sample_factors(data, 1, random_state, num_factors)
                    factors = factors_sharing(
                        data,
                        np.repeat(first, batch_size, axis=0),
                        factor_index,
                        random_state,
                        num_factors,
                    )
                else:
                    factors = sample_factors(data, batch_size, random_state, num_factors)
                    factors[:, factor_index] = factors[0, factor_index]
                observations.append(data.sample_observations_from_factors(factors, random_state))
                fixed.append(factor_index)
            latents = represent_batch(represent, np.concatenate(observations))
            local_variances = np.var(latents.reshape(group, batch_size, -1), axis=1, ddof=1)
            ratios = local_variances[:, active] / global_variances[active]
            # The index among the active dimensions, mapped back to the dimension itself.
            np.add.at(table, (np.asarray(fixed), active[np.argmin(ratios, axis=1)]), 1)
        return table

    return votes(num_train), votes(num_eval)
