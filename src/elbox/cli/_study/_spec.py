"""What a study is: the settings it trains, how many seeds, what it measures.

A study is a grid: each axis is a list of levels, a level sets one or more `elbox train`
options, and every combination of levels is one setting, trained once per seed. Three
studies are built in (`collapse`, `beta` and `iwae`); `grid` is a study made of `--grid` options
alone.
"""

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any, Literal

Measures = Literal["collapse", "disentanglement", "iwae"]
"""Which metrics a study reports: posterior collapse (the likelihood bound, active units,
mutual information), disentanglement (MIG, the FactorVAE and beta-VAE scores, DCI), or
tighter bounds (the likelihood bound, active units, the gradients' signal-to-noise
ratios)."""


@dataclasses.dataclass(frozen=True)
class Level:
    """One level of an axis: the `elbox train` options it sets and its name in tables."""

    label: str
    options: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Axis:
    """A study's axis: an option (or group of options) and the levels it takes.

    `references` are the levels the others are compared with (by paired differences over
    the seeds, each against the references before it; see `_paired`): the first level
    when empty.
    """

    name: str
    levels: tuple[Level, ...]
    references: tuple[str, ...] = ()

    @classmethod
    def of_values(cls, option: str, values: list[Any]) -> "Axis":
        """An axis over one option's values, each labelled by its value."""
        return cls(option, tuple(Level(_label(value), {option: value}) for value in values))


@dataclasses.dataclass(frozen=True)
class Setting:
    """One combination of levels: trained once per seed."""

    label: str
    levels: Mapping[str, str]
    """The level of each axis, by axis name (empty for an extra setting)."""
    options: Mapping[str, Any]
    """The `elbox train` options it sets on top of the study's base."""


@dataclasses.dataclass(frozen=True)
class StudySpec:
    """A study: the base options of every run, the axes, extra settings, and the metrics.

    Attributes:
        name: `collapse`, `beta` or `grid`.
        description: one sentence for `study.md`.
        base: the `elbox train` options every run shares.
        axes: the grid's axes; every combination of their levels is a setting.
        extra: settings beyond the grid, `(label, options)`, e.g. other objectives.
        measures: the metrics to report.
        epochs: the default number of epochs.
        plot_metrics: the metrics the study's plot shows.
        references: the settings the extra ones are compared with (paired over the
            seeds; see `_paired`): the first setting when empty.
    """

    name: str
    description: str
    base: Mapping[str, Any]
    axes: tuple[Axis, ...]
    measures: Measures
    epochs: int
    plot_metrics: tuple[str, ...]
    extra: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    references: tuple[str, ...] = ()

    def settings(self) -> list[Setting]:
        """Every setting: the grid's combinations in order, then the extra ones."""
        settings = []
        for combination in itertools.product(*(axis.levels for axis in self.axes)):
            options: dict[str, Any] = {}
            for level in combination:
                options.update(level.options)
            levels = {
                axis.name: level.label for axis, level in zip(self.axes, combination, strict=True)
            }
            label = ", ".join(f"{name}={value}" for name, value in levels.items())
            settings.append(Setting(label or "base", levels, options))
        for label, extra_options in self.extra:
            settings.append(Setting(label, {}, dict(extra_options)))
        return settings

    def with_axis(self, axis: Axis) -> "StudySpec":
        """This study with `axis` replacing the axis of the same name, or added."""
        axes = [existing for existing in self.axes if existing.name != axis.name]
        position = next(
            (index for index, existing in enumerate(self.axes) if existing.name == axis.name),
            len(axes),
        )
        axes.insert(position, axis)
        return dataclasses.replace(self, axes=tuple(axes))


def _label(value: Any) -> str:
    return str(value)


COLLAPSE = StudySpec(
    name="collapse",
    description=(
        "Posterior collapse on the digits, binarised afresh each step (a Bernoulli "
        "likelihood): an MLP VAE with 32 latent dimensions and beta 1, under each KL "
        "schedule, without and with free bits (0.5 nats, per sample or per batch)."
    ),
    base={
        "dataset": "digits",
        "model": "mlp",
        "latent": 32,
        "beta": 1.0,
        "free_bits": 0.0,
        "free_bits_mode": "per_sample",
        # Binarised afresh each step (dynamic binarisation): a normalised likelihood of
        # the grey digits, so that the bound is one of log p(x).
        "likelihood": "bernoulli",
    },
    axes=(
        Axis.of_values("kl_annealing", ["none", "linear", "sigmoid", "cyclical"]),
        Axis(
            "free_bits",
            (
                Level("off", {"free_bits": 0.0}),
                Level("0.5 per-sample", {"free_bits": 0.5, "free_bits_mode": "per_sample"}),
                Level("0.5 batch", {"free_bits": 0.5, "free_bits_mode": "batch"}),
            ),
            # Free bits against none, and counted over the batch against per sample.
            references=("off", "0.5 per-sample"),
        ),
    ),
    measures="collapse",
    epochs=100,
    plot_metrics=("active_units", "mutual_information"),
)

BETA = StudySpec(
    name="beta",
    description=(
        "Beta against disentanglement on the shapes factor grid (3 shapes, 6 scales, "
        "10 rotations, 16 x 16 positions): an MLP VAE with 10 latent dimensions and a "
        "linear KL warm-up, at beta 1 to 16; and, for comparison, capacity annealing "
        "(Burgess et al. 2018: 25 nats, gamma 1000) and beta-TC (Chen et al. 2018: beta 6 "
        "on the total correlation alone)."
    ),
    base={
        "dataset": "shapes_grid",
        "model": "mlp",
        "latent": 10,
        "kl_annealing": "linear",
        "free_bits": 0.0,
        "loss_type": "bce_logits",
    },
    axes=(Axis.of_values("beta", [1.0, 2.0, 4.0, 8.0, 16.0]),),
    extra=(
        ("capacity, c_max=25", {"objective": "capacity", "c_max": 25.0, "gamma": 1000.0}),
        ("beta-tc, beta=6", {"objective": "beta-tc", "beta": 6.0}),
    ),
    # The other objectives against every beta.
    references=("beta=1.0", "beta=2.0", "beta=4.0", "beta=8.0", "beta=16.0"),
    measures="disentanglement",
    epochs=15,  # 3 seeds x 7 settings, measured, in under 15 minutes on 2 cores
    plot_metrics=("recon_loss", "kl", "mig", "factor_vae", "beta_vae", "dci_disentanglement"),
)

BETA_DSPRITES = StudySpec(
    name="beta",
    description=(
        "Beta against disentanglement on dSprites, with the protocol of Higgins et al. "
        "(2017) as disentanglement_lib runs it (Locatello et al. 2019): 10 latent "
        "dimensions, a Bernoulli likelihood, Adam at 1e-4, batches of 64, a constant beta "
        "of 1 to 16, about 300,000 steps (27 epochs of the 717,280 training images); "
        "elbox's reference convolutional VAE stands in for the paper's four-layer one. "
        "For comparison, capacity annealing (Burgess et al. 2018: 25 nats, gamma 1000) and "
        "beta-TC (Chen et al. 2018: beta 6 on the total correlation alone)."
    ),
    base={
        "dataset": "dsprites",
        "model": "conv",
        "latent": 10,
        "learning_rate": 1e-4,
        "batch_size": 64,
        "kl_annealing": "none",
        "free_bits": 0.0,
        "loss_type": "bce_logits",
    },
    axes=(Axis.of_values("beta", [1.0, 2.0, 4.0, 6.0, 8.0, 16.0]),),
    extra=BETA.extra,
    references=tuple(f"beta={beta}" for beta in (1.0, 2.0, 4.0, 6.0, 8.0, 16.0)),
    measures="disentanglement",
    epochs=27,  # 27 x 11,207 steps: the published 300,000 (a GPU's work, not a laptop's)
    plot_metrics=BETA.plot_metrics,
)
"""`elbox study beta --dataset dsprites`: the published comparison's protocol."""

GRID = StudySpec(
    name="grid",
    description="A grid given by hand with --grid, over the elbox train defaults.",
    base={},
    axes=(),
    measures="collapse",
    epochs=150,
    plot_metrics=("neg_elbo", "active_units", "mutual_information"),
)

IWAE = StudySpec(
    name="iwae",
    description=(
        "Training on the importance-weighted bound (Burda et al. 2016) on the digits, "
        "dynamically binarised under a Bernoulli likelihood: an MLP VAE with 16 latent "
        "dimensions, K = 1, 5 and 50 codes per example, with the standard gradient and "
        "with DReG (Tucker et al. 2019); the test bound at K = 1000, the active units, "
        "and the gradient signal-to-noise ratios of Rainforth et al. (2018) at the trained "
        "parameters, each measured for the run's own estimator."
    ),
    base={
        "dataset": "digits",
        "model": "mlp",
        "latent": 16,
        "objective": "iwae",
        "likelihood": "bernoulli",
        "kl_annealing": "none",
        "beta": 1.0,
        "free_bits": 0.0,
    },
    axes=(
        Axis.of_values("num_samples", [1, 5, 50]),
        Axis.of_values("gradient", ["standard", "dreg"]),
    ),
    measures="iwae",
    epochs=100,
    plot_metrics=("log_likelihood", "active_units", "encoder_snr", "decoder_snr"),
)

STUDIES: dict[str, StudySpec] = {spec.name: spec for spec in (COLLAPSE, BETA, IWAE, GRID)}
"""The studies `elbox study NAME` knows."""


def on_dataset(spec: StudySpec, dataset: str) -> StudySpec:
    """The study run on `dataset` (`elbox study NAME --dataset DATASET`): the beta study on
    dSprites follows the published protocol; otherwise only the data set changes."""
    if spec.name == "beta" and dataset == "dsprites":
        return BETA_DSPRITES
    built_in = spec.base.get("dataset")
    if dataset == built_in:
        return spec
    # The description names the built-in data set: its report says what the runs used.
    description = f"{spec.description} Run here on `--dataset {dataset}` instead of {built_in}."
    return dataclasses.replace(
        spec, base={**spec.base, "dataset": dataset}, description=description
    )
