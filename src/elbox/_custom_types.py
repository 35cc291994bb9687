"""Type aliases and type variables shared across elbox.

Static checkers see plain unions; at run time the aliases are jaxtyping annotations, so
beartype checks dtypes and shapes wherever they are used. Every alias that appears in a
public signature is public (re-exported from `elbox`) and documented on the Types page.
"""

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict, TypeVar

import jax
import numpy as np
import numpy.typing as npt
from jaxtyping import Array, ArrayLike, Float, Int, PyTree, Shaped

if TYPE_CHECKING:
    import optax
    from flax import nnx

KLAnnealing: TypeAlias = Literal["none", "linear", "sigmoid", "cyclical"]
"""The names of the built-in KL schedules, for `VAETrainingConfig.kl_annealing`."""

FreeBitsMode: TypeAlias = Literal["per_sample", "batch"]
"""Where the free-bits floor applies: to each sample's KL, or to the batch average."""

NonFinite: TypeAlias = Literal["skip", "raise", "apply"]
"""What a training step does when its loss or a gradient is not finite: `"skip"` keeps the
state as it was (the default), `"raise"` keeps it and raises after the step, `"apply"`
applies the update anyway."""
Weights: TypeAlias = Literal["trained", "ema"]
"""Which parameters evaluate a model: `"trained"` (those the optimizer updates) or `"ema"`
(their exponential moving average, kept when a trainer has an `ema_decay`)."""

ObjectiveName: TypeAlias = Literal["elbo", "capacity", "beta-tc", "iwae"]
"""A training objective by name: `"elbo"` (the annealed negative ELBO, `ELBOObjective`),
`"capacity"` (capacity annealing, `CapacityObjective`), `"beta-tc"` (beta-TCVAE,
`BetaTCObjective`) or `"iwae"` (the importance-weighted bound, `IWAEObjective`)."""


class ObjectiveOptions(TypedDict, total=False):
    """The options of the named objectives, as `objective_from_name` and
    `VAETrainer(objective_options=...)` take them; each belongs to one objective, and an
    option left out takes that objective's default.

    - `"capacity"`: `c_max` (nats, default 25.0), `capacity_steps` (default 100000),
      `gamma` (default 1000.0); see `CapacityObjective`.
    - `"beta-tc"`: `dataset_size` (default None: the batch is the data set); see
      `BetaTCObjective`.
    - `"iwae"`: `num_samples` (K, default 5), `gradient` (default `"standard"`); see
      `IWAEObjective`.
    """

    c_max: float
    capacity_steps: int
    gamma: float
    dataset_size: int | None
    num_samples: int
    gradient: "IWAEGradient"


# The documented form of each alias is the one static checkers see; at run time the
# aliases are what beartype checks.
if TYPE_CHECKING:
    StepLike: TypeAlias = int | np.integer[Any] | Array
    """A training step: a Python or NumPy integer, or a scalar integer array (a traced
    step inside a compiled function)."""

    ScalarLike: TypeAlias = ArrayLike
    """A number or a scalar array, such as a KL weight."""

    RealNumber: TypeAlias = float
    """A real number: a float, or an int (which static checkers accept as a float)."""

    LossName: TypeAlias = Literal["mse", "bce", "bce_logits", "mae"]
    """The name of a built-in reconstruction loss: the VAE Trainer spec's four."""

    LikelihoodName: TypeAlias = Literal[
        "mse",
        "bce",
        "bce_logits",
        "mae",
        "bernoulli",
        "continuous_bernoulli",
        "gaussian",
        "gaussian_per_feature",
        "gaussian_decoder",
        "laplace",
        "laplace_per_feature",
        "laplace_decoder",
        "discretised_logistic",
        "discretised_logistic_mixture",
    ]
    """The name of a built-in likelihood: a `LossName`, or one of the normalised
    likelihoods that `likelihood_from_name` lists."""

    IWAEGradient: TypeAlias = Literal["standard", "dreg", "stl"]
    """The gradient estimator of `IWAEObjective`: `"standard"` (the reparameterised
    gradient of the bound), `"dreg"` (doubly reparameterised, Tucker et al. 2019) or
    `"stl"` (sticking the landing, Roeder et al. 2017)."""

    Params: TypeAlias = PyTree[Array]
    """A model's trained parameters: for an Equinox model, the model with `None` in place
    of its untrained parts; for a Flax NNX model, the `nnx.State` of its trained
    Variables, holding plain arrays."""

    ModelState: TypeAlias = PyTree[Array]
    """A model's untrained arrays: an NNX model's RNG keys and counters and batch
    statistics; an Equinox model's integer arrays, if any."""

    OptState: TypeAlias = PyTree[Array]
    """An optax optimizer's state (for an NNX model, the pair `(optax state, count)` of
    its `nnx.Optimizer`)."""

    OptimizerLike: TypeAlias = nnx.Optimizer[Any] | optax.GradientTransformation
    """What a trainer takes as the optimizer: an `nnx.Optimizer` for a Flax NNX model, an
    optax `GradientTransformation` for an Equinox one."""
else:
    StepLike = Int[ArrayLike, ""]
    ScalarLike = Float[ArrayLike, ""] | Int[ArrayLike, ""]
    # A static checker takes an int where a float is asked for; beartype needs telling.
    RealNumber = float | int
    # Checked by `reconstruction_loss`, whose error lists the valid names.
    LossName = LikelihoodName = str
    # Checked by `IWAEObjective`, whose error lists the estimators.
    IWAEGradient = str
    # Pytrees of any structure (a static checker sees PyTree[...] as Any); the framework
    # seam checks what a model and optimizer are, with messages that say what it takes.
    Params = ModelState = OptState = PyTree
    # Flax is not imported until an NNX model arrives, so run time cannot name its types.
    OptimizerLike = object

Model: TypeAlias = Any
"""A VAE model: an `nnx.Module` or an `eqx.Module` (or, for the metrics, any object with
`encode` and `decode`). Models are the user's own classes, so static checkers cannot know
their methods; `framework_of` decides at run time how to split and call one."""

StepMetrics: TypeAlias = dict[str, Array]
"""The metrics of one step (scalars), or of K fused steps (each of shape `(K,)`), as an
[`Engine`][elbox.training.Engine] returns them: JAX arrays, read when needed."""

StateLeaves: TypeAlias = list[Array]
"""A `TrainState` flattened: its arrays in `jax.tree.flatten` order, as the compiled steps
of a stateful trainer take and return them."""

ModelT = TypeVar("ModelT")
"""The type of the model a trainer trains: an `nnx.Module` or an `eqx.Module`."""

Metrics: TypeAlias = dict[str, Float[Array, ""]]
"""Named scalar metrics, e.g. ``loss``, ``recon_loss``, ``kl_loss`` and ``kl_weight``."""

KLScheduleLike: TypeAlias = Callable[[StepLike], ArrayLike]
"""Anything that maps a step to a KL weight: an elbox schedule or any optax schedule."""

Batch: TypeAlias = ArrayLike | Mapping[str, Any]
"""A batch: an array of shape ``(batch, ...)`` or a mapping with an ``image`` or ``data`` key."""

LossFn: TypeAlias = Callable[[Any, Batch], tuple[Float[Array, ""], Metrics]]
"""`loss_fn(model, batch) -> (loss, metrics)`, differentiable in `model` (an NNX or an
Equinox model)."""

LossFnFactory: TypeAlias = Callable[[Any], LossFn]
"""`make_loss_fn(step) -> loss_fn`: called with a traced step inside the compiled step."""

AnyArray: TypeAlias = Shaped[np.ndarray, "..."] | Shaped[jax.Array, "..."]
"""A NumPy or JAX array of any shape and dtype (`elbox.data.batches` copies a JAX array
to host memory once)."""

LoaderItemT = TypeVar("LoaderItemT", npt.NDArray[Any], dict[str, npt.NDArray[Any]])
"""What a [`Batches`][elbox.data.Batches] loader yields: a NumPy array for an array, a
dict of NumPy arrays for a mapping of arrays."""
