"""Type aliases shared across elbox.

Static checkers see plain unions; at run time the aliases are jaxtyping annotations, so
beartype checks dtypes and shapes wherever they are used.
"""

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict

import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

KLAnnealing: TypeAlias = Literal["none", "linear", "sigmoid", "cyclical"]
FreeBitsMode: TypeAlias = Literal["per_sample", "batch"]
NonFinite: TypeAlias = Literal["skip", "raise", "apply"]
"""What a training step does when its loss or a gradient is not finite: `"skip"` keeps the
state as it was (the default), `"raise"` keeps it and raises after the step, `"apply"`
applies the update anyway."""
ObjectiveName: TypeAlias = Literal["elbo", "capacity", "beta-tc"]
"""A training objective by name: `"elbo"` (the annealed negative ELBO, `ELBOObjective`),
`"capacity"` (capacity annealing, `CapacityObjective`) or `"beta-tc"` (beta-TCVAE,
`BetaTCObjective`)."""


class ObjectiveOptions(TypedDict, total=False):
    """The options of the named objectives, as `objective_from_name` and
    `VAETrainer(objective_options=...)` take them; each belongs to one objective, and an
    option left out takes that objective's default.

    - `"capacity"`: `c_max` (nats, default 25.0), `capacity_steps` (default 100000),
      `gamma` (default 1000.0); see `CapacityObjective`.
    - `"beta-tc"`: `dataset_size` (default None: the batch is the data set); see
      `BetaTCObjective`.
    """

    c_max: float
    capacity_steps: int
    gamma: float
    dataset_size: int | None


if TYPE_CHECKING:
    StepLike: TypeAlias = int | np.integer[Any] | Array
    ScalarLike: TypeAlias = ArrayLike
    RealNumber: TypeAlias = float
    LossName: TypeAlias = Literal["mse", "bce", "bce_logits", "mae"]
else:
    StepLike = Int[ArrayLike, ""]
    ScalarLike = Float[ArrayLike, ""] | Int[ArrayLike, ""]
    # A static checker takes an int where a float is asked for; beartype needs telling.
    RealNumber = float | int
    # Checked by `reconstruction_loss`, whose error lists the valid names.
    LossName = str

Metrics: TypeAlias = dict[str, Float[Array, ""]]
"""Named scalar metrics, e.g. ``loss``, ``recon_loss``, ``kl_loss`` and ``kl_weight``."""

KLScheduleLike: TypeAlias = Callable[[StepLike], ArrayLike]
"""Anything that maps a step to a KL weight: an elbox schedule or any optax schedule."""

Batch: TypeAlias = ArrayLike | Mapping[str, Any]
"""A batch: an array of shape ``(batch, ...)`` or a mapping with an ``image`` or ``data`` key."""

LossFn: TypeAlias = Callable[[Any, Batch], tuple[Float[Array, ""], Metrics]]
"""`loss_fn(model, batch) -> (loss, metrics)`, differentiable in `model`."""

LossFnFactory: TypeAlias = Callable[[Any], LossFn]
"""`make_loss_fn(step) -> loss_fn`: called with a traced step inside the compiled step."""
