"""A training run: data, model and trainer from the options, the run folder and its plots."""

import dataclasses
import json
import math
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
import optax
from flax import nnx

from .. import data as datasets
from .._config import VAETrainingConfig
from .._custom_types import ObjectiveOptions
from .._trainer import VAETrainer
from ..models import equinox as eqx_models
from ..models import nnx as nnx_models
from ..training import (
    CheckpointConfig,
    CheckpointStore,
    MetricsLogger,
    ModelCheckpoint,
    ProgressBar,
    Trainer,
)
from . import _plots
from ._analysis import ACTIVE_THRESHOLD, Analysis, analyse
from ._options import TrainOptions, decoder_output, default_output

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
MONITOR = "val_neg_elbo"
VALIDATION_FRACTION = 0.1
SHAPES_EXAMPLES, SHAPES_TEST = 6000, 1000
# Images drawn from the shapes factor grid (3 shapes x 6 scales x 10 rotations x 16 x 16
# positions = 46,080 images): a training set and a test set.
SHAPES_GRID_EXAMPLES, SHAPES_GRID_TEST = 20_000, 2_000
SHAPES_GRID_ROTATIONS = 10


def shapes_grid() -> datasets.ShapesGrid:
    """The factor grid of `--dataset shapes_grid`: 10 rotations, so that the DCI score's
    gradient-boosted trees (one class per rotation) stay affordable."""
    return datasets.ShapesGrid(num_rotations=SHAPES_GRID_ROTATIONS)


FloatArray = np.ndarray[Any, np.dtype[np.float32]]


class RunError(Exception):
    """A run cannot start or continue as asked; the message says why."""


@dataclasses.dataclass(frozen=True)
class Splits:
    """The data of a run, shaped for its model."""

    train: FloatArray
    validation: FloatArray
    test: FloatArray
    image_shape: tuple[int, int, int]


def load_splits(options: TrainOptions) -> Splits:
    """The train, validation and test data; validation is the last 10% of the training set."""
    if options.dataset == "digits":
        digits = datasets.digits()
        train, test, image_shape = digits.train, digits.test, digits.image_shape
    elif options.dataset == "shapes":
        sprites = datasets.shapes(SHAPES_EXAMPLES, size=32, seed=0)
        images = sprites.images
        train, test, image_shape = images[:-SHAPES_TEST], images[-SHAPES_TEST:], sprites.image_shape
    else:
        grid = shapes_grid()
        images = grid.sample_observations(SHAPES_GRID_EXAMPLES, np.random.RandomState(0))
        train, test = images[:-SHAPES_GRID_TEST], images[-SHAPES_GRID_TEST:]
        image_shape = grid.observation_shape
    shape = (-1, math.prod(image_shape)) if options.model == "mlp" else (-1, *image_shape)
    train = np.asarray(train, np.float32).reshape(shape)
    test = np.asarray(test, np.float32).reshape(shape)
    cut = len(train) - max(1, int(len(train) * VALIDATION_FRACTION))
    return Splits(train[:cut], train[cut:], test, image_shape)


def build_vae(
    options: TrainOptions, image_shape: tuple[int, int, int], total_steps: int
) -> tuple[VAETrainer[Any], Any]:
    """The model, its optimizer and the VAETrainer that the options describe, for a run of
    `total_steps` steps (which sets the default annealing periods and capacity ramp)."""
    config = training_config(options, total_steps)
    tx = optax.adam(options.learning_rate)
    key = jax.random.key(options.seed)
    init: dict[str, Any]
    if options.framework == "nnx":
        models: Any = nnx_models
        init = {"rngs": nnx.Rngs(options.seed)}
    else:
        models = eqx_models
        init_key, key = jax.random.split(key)
        init = {"key": init_key}
    architecture = models.MLPVAE if options.model == "mlp" else models.ConvVAE
    inputs = math.prod(image_shape) if options.model == "mlp" else image_shape
    model = architecture(
        inputs,
        hidden=options.hidden,
        latent=options.latent,
        output=decoder_output(options),
        **init,
    )
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param) if options.framework == "nnx" else tx
    vae = VAETrainer(
        model,
        optimizer,
        config,
        key=key,
        objective=options.objective,
        objective_options=objective_options_of(options, total_steps),
    )
    return vae, optimizer


def objective_options_of(options: TrainOptions, total_steps: int) -> ObjectiveOptions:
    """The objective's options, the capacity's ramp scaled to the run's length by default."""
    if options.objective != "capacity":
        return {}
    ramp = max(1, total_steps // 2) if options.capacity_steps is None else options.capacity_steps
    return {"c_max": options.c_max, "capacity_steps": ramp, "gamma": options.gamma}


def training_config(options: TrainOptions, total_steps: int) -> VAETrainingConfig:
    """The VAE config, with the annealing periods scaled to the run's length by default."""
    quarter = max(1, total_steps // 4)
    return VAETrainingConfig(
        kl_annealing=options.kl_annealing,
        kl_warmup_steps=quarter if options.kl_warmup_steps is None else options.kl_warmup_steps,
        beta=options.beta,
        # Free bits belong to the ELBO; the other objectives control the KL their own way.
        free_bits=options.free_bits if options.objective == "elbo" else 0.0,
        cyclical_period=quarter if options.cyclical_period is None else options.cyclical_period,
        free_bits_mode=options.free_bits_mode,
    )


def _prepare_folder(options: TrainOptions) -> Path:
    if options.output is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = default_output(options, stamp)
        suffix = 2
        while folder.exists():
            folder = default_output(options, f"{stamp}-{suffix}")
            suffix += 1
    else:
        folder = options.output
    holds_run = (folder / CONFIG_FILE).exists() or (folder / "checkpoints").exists()
    if options.resume:
        if not holds_run:
            raise RunError(f"--resume: {folder} holds no run to continue")
        _check_same_run(folder, options)
    elif holds_run:
        if not options.overwrite:
            raise RunError(
                f"{folder} already holds a run; pass --resume to continue it or --overwrite "
                "to replace it"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Options that may change when a run is resumed: they don't alter what it computes.
_RESUMABLE_CHANGES = {"epochs", "output", "resume", "overwrite"}


def _check_same_run(folder: Path, options: TrainOptions) -> None:
    saved = json.loads((folder / CONFIG_FILE).read_text())["options"]
    current = options.to_json()
    # An option added since the run was made counts as having had its default.
    defaults = TrainOptions().to_json()
    changed = {
        name: (saved.get(name, defaults[name]), value)
        for name, value in current.items()
        if name not in _RESUMABLE_CHANGES and saved.get(name, defaults[name]) != value
    }
    if changed:
        described = ", ".join(
            f"--{k.replace('_', '-')} {a!r} -> {b!r}" for k, (a, b) in changed.items()
        )
        raise RunError(
            f"--resume: {folder} was trained with other options ({described}); repeat the "
            "original options (only --epochs may change)"
        )


def train(options: TrainOptions) -> Path:
    """Train as `options` say, write the run folder, print a summary; the folder's path."""
    folder = _prepare_folder(options)
    splits = load_splits(options)
    loader = datasets.batches(splits.train, options.batch_size, seed=options.seed)
    total_steps = options.epochs * len(loader)
    vae, _ = build_vae(options, splits.image_shape, total_steps)
    (folder / CONFIG_FILE).write_text(
        json.dumps(
            {
                "options": options.to_json(),
                "vae_config": vae.config.to_dict(),
                "objective": {
                    "name": options.objective,
                    **objective_options_of(options, total_steps),
                },
                "image_shape": list(splits.image_shape),
                "total_steps": total_steps,
                "steps_per_epoch": len(loader),
            },
            indent=2,
        )
    )
    checkpoint = ModelCheckpoint(
        CheckpointConfig(dirpath=folder / "checkpoints", monitor=MONITOR, mode="min")
    )
    callbacks = [MetricsLogger(folder), checkpoint, ProgressBar(print_every_seconds=5.0)]
    trainer = Trainer(vae, callbacks=callbacks, loss_type=options.loss_type)
    validation = datasets.batches(splits.validation, 256, shuffle=False, drop_last=False)
    start = time.perf_counter()
    history = trainer.fit(loader, epochs=options.epochs, val_data=validation, resume=options.resume)
    seconds = time.perf_counter() - start
    analysis, best_epoch = evaluate_run(folder)
    plot_run(folder)
    summary = {
        "seconds": seconds,
        "epochs": len(history.epochs),
        "steps": vae.step,
        "first_epoch_val_neg_elbo": history.epochs[0][MONITOR],
        "last_epoch_val_neg_elbo": history.epochs[-1][MONITOR],
        "best_epoch": best_epoch,
        "stop_reason": history.stop_reason,
        "test": analysis.to_json(),
    }
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    _print_summary(options, folder, summary, analysis)
    return folder


def _print_summary(
    options: TrainOptions, folder: Path, summary: dict[str, Any], analysis: Analysis
) -> None:
    model = {"mlp": "an MLP", "conv": "a convolutional"}[options.model]
    print(
        f"elbox: trained {model} VAE ({options.framework}) on {options.dataset} for "
        f"{summary['epochs']} epochs ({summary['steps']} steps) in {summary['seconds']:.1f} s"
    )
    print(
        f"  validation negative ELBO: {summary['first_epoch_val_neg_elbo']:.2f} (first epoch) "
        f"-> {summary['last_epoch_val_neg_elbo']:.2f} (last epoch)"
    )
    print(
        f"  test negative ELBO: {analysis.neg_elbo:.2f} nats per example "
        f"(reconstruction {analysis.recon_loss:.2f} + KL {analysis.kl:.2f}), best checkpoint "
        f"(epoch {summary['best_epoch']}, by {MONITOR})"
    )
    print(
        f"  active units: {analysis.active_units} of {analysis.active.size} latent dimensions "
        f"(posterior-mean variance > {ACTIVE_THRESHOLD})"
    )
    print(f"  run folder: {folder}")
    print(f"  plots: {folder / 'plots'}/{{{','.join(_plots.PLOT_NAMES)}}}.png")


# -- reading a run back ------------------------------------------------------------------


def _load_run(folder: Path) -> tuple[TrainOptions, Splits, VAETrainer[Any], int | None]:
    """The run's options, data, and a VAETrainer holding its best checkpoint."""
    config_file = folder / CONFIG_FILE
    if not config_file.exists():
        raise RunError(f"{folder} holds no elbox run (no {CONFIG_FILE})")
    saved = json.loads(config_file.read_text())
    fields = dict(saved["options"])
    fields["output"] = None if fields["output"] is None else Path(fields["output"])
    options = TrainOptions(**fields)
    splits = load_splits(options)
    vae, _ = build_vae(options, splits.image_shape, int(saved["total_steps"]))
    checkpoints = folder / "checkpoints"
    if not checkpoints.is_dir():
        raise RunError(f"{folder} holds no checkpoints")
    with CheckpointStore(checkpoints, monitor=MONITOR, mode="min") as store:
        state, metadata, _ = store.restore(vae.state, which="best")
    vae.load_state(state)
    epoch = metadata.get("epoch")
    return options, splits, vae, None if epoch is None else int(epoch)


def evaluate_run(folder: Path) -> tuple[Analysis, int | None]:
    """The best checkpoint of the run in `folder` on its test split."""
    options, splits, vae, epoch = _load_run(folder)
    analysis = analyse(vae, splits.test, loss_type=options.loss_type)
    (folder / "evaluation.json").write_text(
        json.dumps({"checkpoint_epoch": epoch, **analysis.to_json()}, indent=2)
    )
    return analysis, epoch


def _images(values: Any, image_shape: tuple[int, int, int], output: str) -> npt.NDArray[Any]:
    array = np.asarray(values, np.float64)
    if output == "logits":
        array = 1.0 / (1.0 + np.exp(-array))
    return np.clip(array.reshape(-1, *image_shape)[..., 0], 0.0, 1.0)


def plot_run(folder: Path) -> list[Path]:
    """(Re)draw the plots of the run in `folder` from its metrics and best checkpoint."""
    options, splits, vae, _ = _load_run(folder)
    steps: dict[str, list[float]] = {}
    epochs: list[dict[str, Any]] = []
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.pop("kind") == "step":
            for name, value in record.items():
                steps.setdefault(name, []).append(math.nan if value is None else value)
        else:
            epochs.append(record)
    plots = folder / "plots"
    paths = [_plots.plot_training_curves(steps, epochs, plots / "training_curves.png")]
    analysis = analyse(vae, splits.test, loss_type=options.loss_type)
    paths.append(
        _plots.plot_kl_per_dimension(
            analysis.kl_per_dimension,
            analysis.mean_variance,
            ACTIVE_THRESHOLD,
            plots / "kl_per_dimension.png",
        )
    )
    model, output, shape = vae.model, decoder_output(options), splits.image_shape
    inputs = splits.test[:12]
    mean, _ = model.encode(jnp.asarray(inputs))
    paths.append(
        _plots.plot_reconstructions(
            _images(inputs, shape, "probabilities"),
            _images(model.decode(mean), shape, output),
            plots / "reconstructions.png",
        )
    )
    z = jax.random.normal(jax.random.key(options.seed + 1), (64, options.latent))
    paths.append(
        _plots.plot_samples(_images(model.decode(z), shape, output), plots / "samples.png")
    )
    order = np.argsort(-analysis.kl_per_dimension)[: min(6, options.latent)]
    values = np.linspace(-3.0, 3.0, 9)
    base = np.zeros(options.latent, np.float32)
    rows = []
    for dimension in order:
        codes = np.repeat(base[None, :], len(values), axis=0)
        codes[:, dimension] = values
        rows.append(_images(model.decode(jnp.asarray(codes)), shape, output))
    paths.append(
        _plots.plot_traversals(
            np.stack(rows), [int(d) for d in order], values, plots / "traversals.png"
        )
    )
    return paths
