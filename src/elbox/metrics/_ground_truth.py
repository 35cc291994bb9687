"""Ground-truth data: observations drawn from known discrete factors (disentanglement_lib's)."""

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Representation = Callable[[npt.NDArray[Any]], Any]
"""`represent(observations) -> latents`: a batch of observations to an array of shape
`(batch, latent)` (a JAX or NumPy array), each row from its own observation alone."""

OBSERVATIONS_PER_CALL = 4096
"""The scores stack the observations of several points into one call of `represent`, up to
this many, so that an encoder runs on large batches."""


@runtime_checkable
class GroundTruthData(Protocol):
    """Data generated from discrete factors, as disentanglement_lib's `GroundTruthData`.

    The names are disentanglement_lib's
    (`disentanglement_lib/data/ground_truth/ground_truth_data.py`), so its data sets work
    as they are. [`elbox.data.ShapesGrid`][elbox.data.ShapesGrid] implements it.
    """

    @property
    def factors_num_values(self) -> Sequence[int]:
        """The number of values of each factor; factor k takes the values 0 to n_k - 1."""
        ...

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> npt.NDArray[Any]:
        """`num` factor codes drawn from `random_state`: ints of shape `(num, num_factors)`."""
        ...

    def sample_observations_from_factors(
        self, factors: npt.NDArray[Any], random_state: np.random.RandomState
    ) -> npt.NDArray[Any]:
        """One observation per row of `factors`, a NumPy array of shape `(num, ...)`."""
        ...


def check_ground_truth(data: object, function: str) -> int:
    """The number of factors of `data`, after checking it has the three members."""
    members = ("factors_num_values", "sample_factors", "sample_observations_from_factors")
    missing = [name for name in members if not hasattr(data, name)]
    if missing:
        raise TypeError(
            f"{function}: data must be ground-truth data with `factors_num_values`, "
            "`sample_factors(num, random_state)` and "
            "`sample_observations_from_factors(factors, random_state)` (disentanglement_lib's "
            f"GroundTruthData); {type(data).__name__} has no {', '.join(missing)}"
        )
    sizes = list(data.factors_num_values)  # type: ignore[attr-defined]  # checked above
    if not sizes or not all(
        isinstance(size, int | np.integer) and not isinstance(size, bool) and size >= 1
        for size in sizes
    ):
        raise ValueError(
            f"{function}: data.factors_num_values must list at least one positive int; "
            f"got {sizes!r}"
        )
    return len(sizes)


def sample_factors(
    data: GroundTruthData, num: int, random_state: np.random.RandomState, num_factors: int
) -> npt.NDArray[Any]:
    """`data.sample_factors(num, random_state)`, checked."""
    factors = np.asarray(data.sample_factors(num, random_state))
    if factors.shape != (num, num_factors) or not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(
            f"data.sample_factors({num}, random_state) must return ints of shape "
            f"({num}, {num_factors}); got {factors.dtype} of shape {factors.shape}"
        )
    return factors


def factors_sharing(
    data: GroundTruthData,
    factors: npt.NDArray[Any],
    index: int,
    random_state: np.random.RandomState,
    num_factors: int,
) -> npt.NDArray[Any]:
    """Codes that share factor `index` with the rows of `factors` and vary the others: the
    draw of the scores that fix one factor.

    Where `data` draws such codes itself (`sample_factors_sharing(factors, index,
    random_state)`, as [`FactorSubset`][elbox.data.FactorSubset] does, so that the codes
    stay in its subset), its draw; otherwise disentanglement_lib's: a fresh draw of
    `sample_factors` with factor `index` overwritten by the rows' values.
    """
    sharing = getattr(data, "sample_factors_sharing", None)
    if sharing is None:
        drawn = sample_factors(data, len(factors), random_state, num_factors)
        drawn[:, index] = factors[:, index]
        return drawn
    drawn = np.asarray(sharing(factors, index, random_state))
    if drawn.shape != (len(factors), num_factors) or not np.issubdtype(drawn.dtype, np.integer):
        raise ValueError(
            f"data.sample_factors_sharing must return ints of shape ({len(factors)}, "
            f"{num_factors}); got {drawn.dtype} of shape {drawn.shape}"
        )
    return drawn


def represent_batch(represent: Representation, observations: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """`represent(observations)` as a float64 NumPy array `(batch, latent)`, checked."""
    latents = np.asarray(represent(observations), np.float64)
    if latents.ndim != 2 or latents.shape[0] != len(observations):
        raise ValueError(
            f"represent(observations) must return one code per observation, shape "
            f"({len(observations)}, latent); got shape {latents.shape}"
        )
    return latents


def represent_in_batches(
    represent: Representation, observations: npt.NDArray[Any]
) -> npt.NDArray[Any]:
    """`represent` over `observations`, `OBSERVATIONS_PER_CALL` at a time."""
    return np.concatenate(
        [
            represent_batch(represent, observations[start : start + OBSERVATIONS_PER_CALL])
            for start in range(0, len(observations), OBSERVATIONS_PER_CALL)
        ]
    )


def point_groups(num_points: int, observations_per_point: int) -> list[int]:
    """Sizes of consecutive groups of points whose observations make one call of `represent`."""
    size = max(1, OBSERVATIONS_PER_CALL // observations_per_point)
    return [min(size, num_points - start) for start in range(0, num_points, size)]
