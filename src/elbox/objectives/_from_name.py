"""The training objectives by name, with their options: how trainers, the command line and
studies choose between the ELBO, capacity annealing, beta-TC and the IWAE bound."""

from collections.abc import Mapping
from typing import Any, get_args

from .._custom_types import (
    FreeBitsMode,
    IWAEGradient,
    KLScheduleLike,
    LikelihoodName,
    ObjectiveName,
    ObjectiveOptions,
    RealNumber,
)
from .._validation import checked_choice
from ..likelihoods._reconstruction import AbstractReconstructionLoss
from ._beta_tc import BetaTCObjective
from ._capacity import (
    DEFAULT_C_MAX,
    DEFAULT_CAPACITY_STEPS,
    DEFAULT_GAMMA,
    CapacityObjective,
)
from ._elbo import ELBOObjective
from ._iwae import DEFAULT_NUM_SAMPLES, IWAEObjective
from ._objective import AbstractObjective
from ._schedules import ConstantSchedule

OBJECTIVE_NAMES: tuple[str, ...] = get_args(ObjectiveName)

# Each objective's options, in the order of `ObjectiveOptions`.
_OPTIONS: dict[str, tuple[str, ...]] = {
    "elbo": (),
    "capacity": ("c_max", "capacity_steps", "gamma"),
    "beta-tc": ("dataset_size",),
    "iwae": ("num_samples", "gradient"),
}
_ALL_OPTIONS = tuple(ObjectiveOptions.__annotations__)


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(repr(name) for name in names) if names else "none"


def checked_objective_options(name: str, options: Mapping[str, Any] | None) -> ObjectiveOptions:
    """`options` as `ObjectiveOptions` if every key is an option of objective `name`.

    Raises:
        ValueError: for an unknown objective, an unknown option, or an option of another
            objective; the message lists the valid ones.
    """
    checked_choice("", "objective", name, OBJECTIVE_NAMES)
    given = dict(options or {})
    for option in given:
        if option not in _ALL_OPTIONS:
            hint = (
                " (the beta of the 'beta-tc' objective is the KL schedule's: "
                "VAETrainingConfig.beta)"
                if option == "beta"
                else ""
            )
            raise ValueError(
                f"objective_options has no option {option!r}; the options are "
                f"{_listed(_ALL_OPTIONS)}{hint}"
            )
        if option not in _OPTIONS[name]:
            owner = next(key for key, names in _OPTIONS.items() if option in names)
            raise ValueError(
                f"{option!r} is an option of the {owner!r} objective, not of {name!r} "
                f"(whose options are: {_listed(_OPTIONS[name])})"
            )
    checked: ObjectiveOptions = {}
    checked.update(given)  # type: ignore[typeddict-item]  # keys checked above
    return checked


def objective_from_name(
    name: ObjectiveName,
    *,
    schedule: KLScheduleLike | None = None,
    loss_type: LikelihoodName | AbstractReconstructionLoss = "mse",
    free_bits: RealNumber = 0.0,
    free_bits_mode: FreeBitsMode = "per_sample",
    report_neg_elbo: bool = False,
    c_max: RealNumber | None = None,
    capacity_steps: int | None = None,
    gamma: RealNumber | None = None,
    dataset_size: int | None = None,
    num_samples: int | None = None,
    gradient: IWAEGradient | None = None,
) -> AbstractObjective:
    """The objective called `name`, with its options: `"elbo"`, `"capacity"`, `"beta-tc"`
    or `"iwae"`.

    One entry point for code that picks objectives from plain values (the `elbox`
    command, studies that compare them): `VAETrainer(objective=..., objective_options=...)`
    calls it with the trainer's schedule, loss type and free bits.

    - `"elbo"`: `ELBOObjective`, weighted by `schedule`, with free bits; no options.
    - `"capacity"`: `CapacityObjective` (neither `schedule` nor free bits); options `c_max`,
      `capacity_steps`, `gamma`.
    - `"beta-tc"`: `BetaTCObjective`, `schedule` weighting the total correlation (no free
      bits); option `dataset_size`.
    - `"iwae"`: `IWAEObjective`, the K-sample importance-weighted bound (neither
      `schedule` nor free bits); options `num_samples`, `gradient`.

    Args:
        name: the objective.
        schedule: the KL weight schedule (beta included); defaults to
            `ConstantSchedule(1.0)`. Unused by `"capacity"` and `"iwae"`.
        loss_type: the reconstruction loss or likelihood, by name or as an instance.
        free_bits: the free-bits threshold in nats per latent dimension (`"elbo"` only).
        free_bits_mode: `"per_sample"` or `"batch"` (`"elbo"` only).
        report_neg_elbo: add the metric `neg_elbo`, the unannealed negative ELBO.
        c_max: the capacity reached, in nats (`"capacity"`; default 25.0).
        capacity_steps: the steps the capacity takes to reach `c_max` (`"capacity"`;
            default 100000).
        gamma: the weight of `|KL - C|` (`"capacity"`; default 1000.0).
        dataset_size: the `N` of the `log(N * M)` correction (`"beta-tc"`; default None,
            the batch alone).
        num_samples: K, the importance samples per example (`"iwae"`; default 5).
        gradient: `"standard"`, `"dreg"` or `"stl"` (`"iwae"`; default `"standard"`).

    Raises:
        ValueError: for an unknown name, an option of another objective, free bits with
            an objective other than `"elbo"`, or a bad option value (the message names
            the field).

    Example:
        >>> from elbox import ConstantSchedule, objective_from_name
        >>> objective = objective_from_name("capacity", c_max=5.0, capacity_steps=1000)
        >>> objective.c_max, objective.capacity_steps, objective.gamma
        (5.0, 1000, 1000.0)
        >>> chosen = objective_from_name("beta-tc", schedule=ConstantSchedule(6.0))
        >>> type(chosen).__name__
        'BetaTCObjective'
    """
    given = {
        option: value
        for option, value in (
            ("c_max", c_max),
            ("capacity_steps", capacity_steps),
            ("gamma", gamma),
            ("dataset_size", dataset_size),
            ("num_samples", num_samples),
            ("gradient", gradient),
        )
        if value is not None
    }
    checked_objective_options(name, given)
    if name != "elbo" and free_bits > 0:
        control = {
            "capacity": "controls the KL with its capacity",
            "beta-tc": "weights the total correlation",
            "iwae": "trains the importance-weighted bound, whose KL is unweighted",
        }[name]
        raise ValueError(
            f"free_bits is {free_bits}, but free bits apply to the 'elbo' objective only; "
            f"the {name!r} objective {control}: set free_bits to 0"
        )
    weights = ConstantSchedule(1.0) if schedule is None else schedule
    if name == "capacity":
        return CapacityObjective(
            c_max=DEFAULT_C_MAX if c_max is None else c_max,
            capacity_steps=DEFAULT_CAPACITY_STEPS if capacity_steps is None else capacity_steps,
            gamma=DEFAULT_GAMMA if gamma is None else gamma,
            loss_type=loss_type,
            report_neg_elbo=report_neg_elbo,
        )
    if name == "iwae":
        return IWAEObjective(
            DEFAULT_NUM_SAMPLES if num_samples is None else num_samples,
            gradient="standard" if gradient is None else gradient,
            loss_type=loss_type,
            report_neg_elbo=report_neg_elbo,
        )
    if name == "beta-tc":
        return BetaTCObjective(
            schedule=weights,
            loss_type=loss_type,
            dataset_size=dataset_size,
            report_neg_elbo=report_neg_elbo,
        )
    return ELBOObjective(
        schedule=weights,
        loss_type=loss_type,
        free_bits=free_bits,
        free_bits_mode=free_bits_mode,
        report_neg_elbo=report_neg_elbo,
    )
