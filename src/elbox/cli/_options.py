"""The `elbox train` options: a typed dataclass, turned into command-line flags."""

import argparse
import dataclasses
import inspect
import itertools
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from ._data_options import DataOptions, check_data_options
from ._evaluation_options import EvaluationOptions, check_evaluation_options
from ._loop_options import LoggingOptions, LoopOptions, check_loop_options
from ._step_options import StepFeatureOptions, check_step_options

Framework = Literal["nnx", "equinox"]
ModelKind = Literal["mlp", "conv"]
DatasetName = Literal[
    "digits",
    "shapes",
    "shapes_grid",
    "shapes_grid_upright",
    "mnist",
    "fashion_mnist",
    "binarized_mnist",
    "cifar10",
    "dsprites",
]
STANDARD_DATASETS: tuple[str, ...] = (
    "mnist",
    "fashion_mnist",
    "binarized_mnist",
    "cifar10",
    "dsprites",
)
"""The data sets read from their published files (see `elbox.data`), not bundled."""
DecoderOutput = Literal["logits", "sigmoid"]
LikelihoodChoice = Literal[
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
"""The names of `elbox.likelihood_from_name`, as `--likelihood` takes them."""

# The likelihoods whose decoder may return probabilities (a sigmoid output): one value per
# data value, read as a probability or a location.
_SIGMOID_LIKELIHOODS = ("mse", "bce", "mae", "bernoulli", "continuous_bernoulli")


@dataclasses.dataclass(frozen=True)
class TrainOptions(StepFeatureOptions, EvaluationOptions, LoggingOptions, LoopOptions, DataOptions):
    """Everything `elbox train` can be told; each field is a `--flag` of the same name.

    The defaults are the VAE Trainer spec's quick-start settings (cyclical annealing,
    beta 4, free bits 0.5) on scikit-learn's bundled digits, with the annealing periods
    scaled to the run's length. The fields of the base classes (your own data, the
    training loop, logging, the final evaluation, the training step) come first in
    `dataclasses.fields`, and are grouped in `--help`.
    """

    framework: Framework = "nnx"
    """The model's framework."""
    model: ModelKind = "mlp"
    """The reference architecture: a multilayer perceptron or a convolutional VAE."""
    dataset: DatasetName = "digits"
    """digits: scikit-learn's 8x8 digits; shapes: generated 32x32 sprites; shapes_grid: the
    sprites on a discrete factor grid, with ground truth for disentanglement metrics;
    shapes_grid_upright: the same grid without rotations (four factors); and the standard
    sets, downloaded once into --data-dir: mnist, fashion_mnist, binarized_mnist, cifar10,
    and dsprites (ground truth)."""
    kl_annealing: Literal["none", "linear", "sigmoid", "cyclical"] = "cyclical"
    """The KL weight schedule."""
    kl_warmup_steps: int | None = None
    """Warm-up steps of the linear and sigmoid schedules (default: a quarter of the run)."""
    beta: float = 4.0
    """The final KL weight."""
    free_bits: float = 0.5
    """The minimum KL per latent dimension, in nats (--objective elbo only)."""
    cyclical_period: int | None = None
    """The cyclical schedule's period in steps (default: a quarter of the run)."""
    free_bits_mode: Literal["per_sample", "batch"] = "per_sample"
    """Clamp each sample's KL per dimension, or the batch average (Kingma et al. 2016)."""
    objective: Literal["elbo", "capacity", "beta-tc", "iwae"] = "elbo"
    """The objective: the annealed ELBO; capacity annealing, recon + gamma |KL - C|, with no
    KL schedule (Burgess et al. 2018); beta-TCVAE, the annealed --beta on the total
    correlation alone (Chen et al. 2018); or the importance-weighted bound of
    --num-samples codes, with no KL schedule or free bits (Burda et al. 2016)."""
    c_max: float = 25.0
    """--objective capacity: the capacity C finally reached, in nats."""
    capacity_steps: int | None = None
    """--objective capacity: steps for C to rise from 0 to --c-max (default: half the run)."""
    gamma: float = 1000.0
    """--objective capacity: the weight of |KL - C|."""
    num_samples: int = 5
    """--objective iwae: K, the importance samples per example."""
    gradient: Literal["standard", "dreg", "stl"] = "standard"
    """--objective iwae: the gradient estimator; dreg keeps the encoder's gradient useful
    as K grows (Tucker et al. 2019)."""
    loss_type: Literal["mse", "bce", "bce_logits", "mae"] | None = None
    """The reconstruction loss, one of the spec's four (or give --likelihood)."""
    likelihood: LikelihoodChoice | None = None
    """The likelihood p(x|z), --loss-type's names among them (default:
    continuous_bernoulli, a density, for data in [0, 1]; mse otherwise)."""
    decoder_output: DecoderOutput | None = None
    """logits or sigmoid (default: sigmoid for bce, logits otherwise)."""
    latent: int = 16
    """Latent dimensions."""
    hidden: int = 256
    """Hidden units of the dense layers."""
    epochs: int = 150
    """Training epochs."""
    batch_size: int = 64
    """Examples per training step."""
    learning_rate: float = 1e-3
    """Adam's learning rate."""
    seed: int = 0
    """Seeds the data order, the initial parameters and the noise."""
    output: Path | None = None
    """The run folder (default: runs/<timestamp>-<dataset>-<schedule>)."""
    resume: bool = False
    """Continue the run in --output from its latest checkpoint."""
    overwrite: bool = False
    """Replace the run in --output."""

    def to_json(self) -> dict[str, Any]:
        """The options as JSON-ready values: paths as strings, tuples as lists."""
        values = dataclasses.asdict(self)
        for name, value in values.items():
            if isinstance(value, Path):
                values[name] = str(value)
            elif isinstance(value, tuple):
                values[name] = list(value)
        return values

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> "TrainOptions":
        """The options `to_json` gave (missing names take their defaults)."""
        hints = typing.get_type_hints(cls)
        fields = {}
        for field in dataclasses.fields(cls):
            if field.name not in values:
                continue
            value = values[field.name]
            annotation, _ = _parts(hints[field.name])
            if value is not None and annotation is Path:
                value = Path(value)
            elif isinstance(value, list):
                value = tuple(value)
            fields[field.name] = value
        return cls(**fields)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_docs() -> dict[str, str]:
    # The docstrings under each field (read from the source, as Sphinx does).
    import ast

    docs: dict[str, str] = {}
    for cls in _option_classes():
        tree = ast.parse(inspect.getsource(cls))
        body = tree.body[0].body  # type: ignore[attr-defined]  # a ClassDef
        for node, following in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
            ):
                docs[node.target.id] = str(following.value.value)
    return docs


def _option_classes() -> list[type]:
    """TrainOptions and the option classes it is made of, in the order `--help` shows them."""
    return [
        TrainOptions,
        DataOptions,
        LoopOptions,
        LoggingOptions,
        EvaluationOptions,
        StepFeatureOptions,
    ]


def _owner(name: str) -> type:
    for cls in _option_classes():
        if name in inspect.get_annotations(cls):
            return cls
    raise AssertionError(name)


def _parts(annotation: Any) -> tuple[Any, bool]:
    """The annotation without `| None`, and whether None was allowed."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        return args[0], len(args) < len(get_args(annotation))
    return annotation, False


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per `TrainOptions` field, typed and with its choices, in groups.

    A flag that is not given leaves no attribute in the parsed namespace (its default is
    `argparse.SUPPRESS`), so `options_from` can tell given flags from defaults and let
    them override a config file.
    """
    hints = typing.get_type_hints(TrainOptions)
    docs = _field_docs()
    groups: dict[type, Any] = {TrainOptions: parser}
    for cls in _option_classes()[1:]:
        title = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
        groups[cls] = parser.add_argument_group(title)
    for field in dataclasses.fields(TrainOptions):
        target = groups[_owner(field.name)]
        annotation, _ = _parts(hints[field.name])
        help_text = docs.get(field.name, "")
        kwargs: dict[str, Any] = {
            "default": argparse.SUPPRESS,
            "help": help_text,
            "dest": field.name,
        }
        if annotation is bool:
            target.add_argument(_flag(field.name), action="store_true", **kwargs)
            continue
        args = get_args(annotation)
        if get_origin(annotation) is Literal:
            kwargs["choices"] = list(args)
        elif get_origin(annotation) is tuple and args[-1] is Ellipsis:
            kwargs["action"] = "append"
            if get_origin(args[0]) is Literal:
                kwargs["choices"] = list(get_args(args[0]))
            else:
                kwargs["type"] = args[0]
        elif get_origin(annotation) is tuple:
            kwargs["nargs"] = len(args)
            kwargs["type"] = args[0]
            kwargs["metavar"] = field.metadata.get("metavar", annotation.__name__.upper())
        else:
            kwargs["type"] = annotation
            kwargs["metavar"] = field.metadata.get("metavar", annotation.__name__.upper())
        if field.default not in (None, ()) and not isinstance(field.default, bool):
            kwargs["help"] += f" (default: {field.default})"
        target.add_argument(_flag(field.name), **kwargs)


def given_options(namespace: argparse.Namespace) -> dict[str, Any]:
    """The options given as flags (those left out are absent), as `TrainOptions` values."""
    names = {field.name for field in dataclasses.fields(TrainOptions)}
    given = {name: value for name, value in vars(namespace).items() if name in names}
    return {name: tuple(v) if isinstance(v, list) else v for name, v in given.items()}


def options_from(
    namespace: argparse.Namespace, file_values: Mapping[str, Any] | None = None
) -> TrainOptions:
    """The options: the defaults, then a config file's values, then the flags given."""
    return TrainOptions(**{**(file_values or {}), **given_options(namespace)})


OPTION_DEFAULTS: dict[str, Any] = {
    field.name: field.default
    for field in dataclasses.fields(TrainOptions)
    if field.default is not dataclasses.MISSING
}
"""Each `TrainOptions` field's default (the fields that have a plain one)."""


def check_options(options: TrainOptions, given: Mapping[str, Any] | None = None) -> list[str]:
    """Contradictions and out-of-range values, as messages (empty when all is well).

    `given` holds the options chosen explicitly (by a flag or a config file), which tells a
    chosen `--dataset` from the default one.
    """
    problems = _check_numbers(options)
    problems += check_data_options(
        options,
        dataset_given="dataset" in (given or {}),
        standard=options.data is None and options.dataset in STANDARD_DATASETS,
    )
    problems += check_loop_options(options)
    problems += check_evaluation_options(options)
    problems += check_step_options(options)
    for name in ("latent", "hidden", "epochs", "batch_size"):
        if getattr(options, name) < 1:
            problems.append(f"{_flag(name)} must be >= 1; got {getattr(options, name)}")
    for name in ("kl_warmup_steps", "cyclical_period"):
        value = getattr(options, name)
        if value is not None and value < (0 if name == "kl_warmup_steps" else 1):
            problems.append(
                f"{_flag(name)} must be >= {0 if name == 'kl_warmup_steps' else 1}; got {value}"
            )
    for name in ("beta", "free_bits", "c_max", "gamma"):
        value = getattr(options, name)
        if not value >= 0 or value == float("inf"):
            problems.append(f"{_flag(name)} must be a finite number >= 0; got {value}")
    if options.capacity_steps is not None and options.capacity_steps < 1:
        problems.append(f"--capacity-steps must be >= 1; got {options.capacity_steps}")
    if options.num_samples < 1:
        problems.append(f"--num-samples must be >= 1; got {options.num_samples}")
    # A value other than the default: config.json and --resume repeat every option, the
    # defaults of those that do not apply included.
    iwae_defaults = {name: OPTION_DEFAULTS[name] for name in ("num_samples", "gradient")}
    for name, default in iwae_defaults.items():
        if getattr(options, name) != default and options.objective != "iwae":
            problems.append(
                f"{_flag(name)} is an option of --objective iwae, not of --objective "
                f"{options.objective}: add --objective iwae, or leave {_flag(name)} out"
            )
    if not options.learning_rate > 0:
        problems.append(f"--learning-rate must be a finite number > 0; got {options.learning_rate}")
    if options.loss_type is not None and options.likelihood not in (None, options.loss_type):
        problems.append(
            f"--loss-type {options.loss_type} and --likelihood {options.likelihood} both "
            "choose the likelihood: give one (--likelihood takes every name --loss-type does)"
        )
    chosen = likelihood_name(options)
    flag = "--loss-type" if options.likelihood is None else "--likelihood"
    if chosen == "bce" and options.decoder_output == "logits":
        problems.append(
            f"{flag} bce takes probabilities in [0, 1], but --decoder-output logits "
            f"produces unbounded values: use {flag} bce_logits (recommended) or "
            "--decoder-output sigmoid"
        )
    if chosen == "bce_logits" and options.decoder_output == "sigmoid":
        problems.append(
            f"{flag} bce_logits takes logits, but --decoder-output sigmoid produces "
            f"probabilities: use --decoder-output logits, or {flag} bce"
        )
    if (
        chosen not in (None, *_SIGMOID_LIKELIHOODS, "bce_logits")
        and options.decoder_output == "sigmoid"
    ):
        problems.append(
            f"--likelihood {chosen} reads a scale or mixture weights from the decoder, which "
            "--decoder-output sigmoid would squash into (0, 1): use --decoder-output logits"
        )
    if options.resume and options.overwrite:
        problems.append("--resume continues a run and --overwrite replaces it: choose one")
    if options.resume and options.output is None:
        problems.append("--resume needs --output, the run folder to continue")
    return problems


def likelihood_name(options: TrainOptions) -> str | None:
    """The likelihood's name: `--likelihood`, else `--loss-type` (None before the run's
    options are resolved, when neither was given)."""
    return options.likelihood if options.likelihood is not None else options.loss_type


# The largest finite float32: the model computes in float32, where a larger number is inf.
_FLOAT32_MAX = 3.4028234663852886e38


def _check_numbers(options: TrainOptions) -> list[str]:
    """Every number an option holds must be finite and fit float32 (NaN, inf and 1e39 are
    refused whatever the option); the options' own ranges are checked beside."""
    problems = []
    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        values = value if isinstance(value, tuple) else (value,)
        numbers = [v for v in values if isinstance(v, float | int) and not isinstance(v, bool)]
        bad = [v for v in numbers if not math.isfinite(v) or abs(v) > _FLOAT32_MAX]
        if bad:
            shown = " ".join(f"{v:g}" for v in values)
            problems.append(
                f"{_flag(field.name)} takes finite numbers (at most {_FLOAT32_MAX:.4g} in "
                f"size); got {shown}"
            )
    return problems


def decoder_output(options: TrainOptions) -> DecoderOutput:
    """The decoder's output kind: as asked, or what the likelihood expects."""
    if options.decoder_output is not None:
        return options.decoder_output
    return "sigmoid" if likelihood_name(options) == "bce" else "logits"


def data_name(options: TrainOptions) -> str:
    """What the run trains on, in a word: the data set, or the name of the --data file."""
    return options.dataset if options.data is None else options.data.stem


def default_output(options: TrainOptions, timestamp: str) -> Path:
    """`runs/<timestamp>-<data>-<schedule>`."""
    return Path("runs") / f"{timestamp}-{data_name(options)}-{options.kl_annealing}"
