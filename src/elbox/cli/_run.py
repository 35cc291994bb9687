"""A training run: data, model and trainer from the options, the run folder and its plots."""

import dataclasses
import json
import math
import time
from collections.abc import Mapping, Sequence
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
from .._sharding import data_parallel_mesh
from ..data import DataFile, DataSplit
from ..models import equinox as eqx_models
from ..models import nnx as nnx_models
from ..trainers._vae_trainer import VAETrainer
from ..training import (
    Callback,
    CheckpointConfig,
    CheckpointStore,
    EarlyStopping,
    EarlyStoppingConfig,
    MetricsLogger,
    ModelCheckpoint,
    ProgressBar,
    Trainer,
)
from ..training._image_panels import decoder_mean, to_display
from . import _plots
from ._analysis import ACTIVE_THRESHOLD, Analysis, analyse
from ._errors import RunError
from ._loggers import check_logger_packages, experiment_loggers
from ._options import TrainOptions, check_options, data_name, decoder_output, default_output
from ._own_data import (
    SPLIT_FILE,
    ModelRows,
    Subset,
    check_same_data,
    data_record,
    data_split,
    model_shape,
    open_own_data,
    plot_shape,
)
from ._processes import Processes, agree_flag, agree_text, join_processes
from ._run_folder import FirstStep, RunFolder, holding, open_run_folder

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
MONITOR = "val_neg_elbo"
VALIDATION_FRACTION = 0.1
VALIDATION_BATCH = 256
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
Examples = FloatArray | Subset
"""A split: an array in memory (the bundled sets), or indices into your own data."""


@dataclasses.dataclass(frozen=True)
class Splits:
    """The data of a run, shaped for its model.

    `image_shape` is how one example is drawn (and the conv model's input); `data` and
    `split` are set for your own data (`--data`).
    """

    train: Examples
    validation: Examples
    test: Examples
    image_shape: tuple[int, int, int]
    value_range: tuple[float, float] = (0.0, 1.0)
    data: DataFile | None = None
    split: DataSplit | None = None


def load_splits(
    options: TrainOptions, *, data: DataFile | None = None, folder: Path | None = None
) -> Splits:
    """The train, validation and test data.

    For a bundled data set, validation is the last 10% of its training set. For `--data`,
    the split saved in `folder` (when given and present), else a new seeded split; `data` is
    the opened data, if it already is.
    """
    if options.data is not None:
        data = open_own_data(options) if data is None else data
        rows = ModelRows(data, model_shape(data, options.model))
        split = data_split(options, data, folder)
        return Splits(
            Subset(rows, split.train),
            Subset(rows, split.validation),
            Subset(rows, split.test),
            plot_shape(data),
            data.value_range,
            data,
            split,
        )
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
    options: TrainOptions,
    image_shape: tuple[int, int, int],
    config: VAETrainingConfig,
    objective_options: ObjectiveOptions,
) -> tuple[VAETrainer[Any], Any]:
    """The model, its optimizer and the VAETrainer that the options describe, with the VAE
    config and objective options of the run (see `run_settings`)."""
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
        objective_options=objective_options,
    )
    return vae, optimizer


def run_settings(
    options: TrainOptions, total_steps: int
) -> tuple[VAETrainingConfig, ObjectiveOptions]:
    """The VAE config and objective options of a new run of `total_steps` steps: the
    annealing periods and the capacity ramp scaled to its length, unless given."""
    return training_config(options, total_steps), objective_options_of(options, total_steps)


def saved_settings(
    saved: Mapping[str, Any], options: TrainOptions
) -> tuple[VAETrainingConfig, ObjectiveOptions]:
    """The VAE config and objective options a run folder's `config.json` recorded (a run
    written before objectives were recorded has the defaults of its length)."""
    config = VAETrainingConfig.from_dict(saved["vae_config"])
    recorded = saved.get("objective")
    if recorded is None:
        return config, objective_options_of(options, int(saved["total_steps"]))
    objective: ObjectiveOptions = {k: v for k, v in recorded.items() if k != "name"}  # type: ignore[assignment]  # JSON of an ObjectiveOptions
    return config, objective


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


# Options that may change when a run is resumed: they don't alter what it computes (or,
# for early stopping, only when it stops).
_RESUMABLE_CHANGES = {
    "epochs",
    "output",
    "resume",
    "overwrite",
    "early_stopping",
    "steps_per_dispatch",
    "checkpoint_every",
    "keep_checkpoints",
    "log",
    "log_images_every",
    "wandb_project",
    "distributed",
}


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
            "original options (--epochs and the loop and logging options may change)"
        )


def resolve_options(options: TrainOptions, data: DataFile | None) -> TrainOptions:
    """The options with what depends on the data filled in: the loss type (bce_logits for
    data in [0, 1], bce with a sigmoid decoder, mse otherwise) and `--data` as an absolute
    path."""
    changes: dict[str, Any] = {}
    if options.loss_type is None:
        in_unit = data is None or data.in_unit_interval
        sigmoid = options.decoder_output == "sigmoid"
        changes["loss_type"] = ("bce" if sigmoid else "bce_logits") if in_unit else "mse"
    if options.data is not None:
        changes["data"] = options.data.absolute()
    return dataclasses.replace(options, **changes)


def _check_sizes(options: TrainOptions, splits: Splits, processes: Processes) -> None:
    """A RunError when a batch does not fit the data or the devices (before any step)."""
    name = data_name(options) if options.data is None else str(options.data)
    count = len(splits.train)
    if options.batch_size > count:
        raise RunError(
            f"--batch-size {options.batch_size} is larger than the {count} training examples "
            f"of {name}; use --batch-size {count} or less"
        )
    devices = processes.devices
    if options.batch_size % devices:
        raise RunError(
            f"--batch-size {options.batch_size} does not split evenly over the {devices} "
            f"devices of {processes.count} processes; use a multiple of {devices}"
        )
    if len(splits.validation) < devices:
        raise RunError(
            f"the {len(splits.validation)} validation examples of {name} do not fill one batch "
            f"over the {devices} devices; use more data (or a larger validation --split)"
        )


def batch_loader(
    examples: Examples,
    batch_size: int,
    processes: Processes,
    *,
    shuffle: bool,
    seed: int = 0,
    drop_last: bool = True,
) -> datasets.IndexedBatches:
    if isinstance(examples, Subset):
        source: Any = examples.source
        indices = examples.indices
    else:
        source, indices = examples, np.arange(len(examples))
    return datasets.indexed_batches(
        source,
        indices,
        batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
        process_count=processes.count,
        process_index=processes.index,
    )


def _validation_loader(examples: Examples, processes: Processes) -> datasets.IndexedBatches:
    # Every batch must split evenly over the devices: with several, up to `devices - 1`
    # examples that would make a last, uneven batch are left out.
    devices = processes.devices
    size = min(VALIDATION_BATCH, len(examples)) // devices * devices
    drop_last = (len(examples) % size) % devices != 0
    return batch_loader(examples, size, processes, shuffle=False, drop_last=drop_last)


def train(options: TrainOptions, given: Mapping[str, Any] | None = None) -> Path:
    """Train as `options` say, write the run folder, print a summary; the folder's path.

    `given` holds the options chosen explicitly (flags and config file), for the checks.
    """
    processes = join_processes(options.distributed)
    folder = _train(options, given, processes)
    if options.distributed:
        jax.distributed.shutdown()
    return folder


def _train(options: TrainOptions, given: Mapping[str, Any] | None, processes: Processes) -> Path:
    data = None if options.data is None else open_own_data(options)
    options = resolve_options(options, data)
    problems = check_options(options, given)
    if problems:
        raise RunError("; ".join(problems))
    check_logger_packages(options.log)
    splits, saved = None, None
    if not options.resume:  # resuming reads the split saved in the run folder
        splits = load_splits(options, data=data)
        _check_sizes(options, splits, processes)
    run = _open_folder(options, processes)
    try:
        folder = run.path
        if splits is None:
            _check_same_run(folder, options)
            saved = json.loads((folder / CONFIG_FILE).read_text())
            if data is not None:
                check_same_data(saved.get("data"), data, folder)
            splits = load_splits(options, data=data, folder=folder)
            _check_sizes(options, splits, processes)
        history, vae, seconds = _fit(options, splits, run, processes, saved)
    except BaseException:
        run.close(failed=True)
        raise
    try:
        loaded = _load_run(folder, data=data)  # every process: reading checkpoints is collective
        if processes.primary:
            analysis, best_epoch = _evaluate(folder, loaded)
            _plot(folder, loaded)
            summary = {
                "seconds": seconds,
                "epochs": len(history.epochs),
                "steps": vae.step,
                "first_epoch_val_neg_elbo": history.epochs[0][MONITOR],
                "last_epoch_val_neg_elbo": history.epochs[-1][MONITOR],
                "best_epoch": best_epoch,
                "stop_reason": history.stop_reason,
                "processes": processes.count,
                "test": analysis.to_json(),
            }
            (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
            _print_summary(options, folder, summary, analysis)
    finally:
        run.close(failed=False)
    return folder


def _open_folder(options: TrainOptions, processes: Processes) -> RunFolder:
    """Process 0 opens and locks the run folder; the others wait to hear that it did."""
    if options.output is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = default_output(options, stamp)
        suffix = 2
        while path.exists():
            path = default_output(options, f"{stamp}-{suffix}")
            suffix += 1
    else:
        path = options.output
    if processes.count == 1:
        return open_run_folder(path, resume=options.resume, overwrite=options.overwrite)
    # Every process must name the same folder: process 0's default name is the one used.
    path = Path(agree_text(str(path)))
    run: RunFolder | None = None
    failure: RunError | None = None
    if processes.primary:
        try:
            run = open_run_folder(path, resume=options.resume, overwrite=options.overwrite)
        except RunError as error:
            failure = error
    if not agree_flag(failure is None):
        if failure is not None:
            raise failure
        raise RunError(f"process 0 could not open the run folder {path}; see its message")
    return run if run is not None else RunFolder.follower(path)


def _config_record(
    options: TrainOptions,
    config: VAETrainingConfig,
    objective: ObjectiveOptions,
    splits: Splits,
    steps_per_epoch: int,
) -> dict[str, Any]:
    return {
        "options": options.to_json(),
        "vae_config": config.to_dict(),
        "objective": {"name": options.objective, **objective},
        "image_shape": list(splits.image_shape),
        "total_steps": options.epochs * steps_per_epoch,
        "steps_per_epoch": steps_per_epoch,
        "data": None if splits.data is None else data_record(splits.data),
    }


def _fit(
    options: TrainOptions,
    splits: Splits,
    run: RunFolder,
    processes: Processes,
    saved: Mapping[str, Any] | None,
) -> tuple[Any, VAETrainer[Any], float]:
    """Train; `saved` is the config.json of the run a resume continues."""
    folder = run.path
    loader = batch_loader(
        splits.train, options.batch_size, processes, shuffle=True, seed=options.seed
    )
    # A resumed run keeps its VAE config and objective (annealing periods and capacity ramp
    # scaled to its first --epochs).
    config, objective = (
        run_settings(options, options.epochs * len(loader))
        if saved is None
        else saved_settings(saved, options)
    )
    vae, _ = build_vae(options, splits.image_shape, config, objective)
    record = _config_record(options, config, objective, splits, len(loader))

    def write_config() -> None:
        (folder / CONFIG_FILE).write_text(json.dumps(record, indent=2))

    def started() -> None:
        run.started = True
        if options.resume and processes.primary:  # a resumed run's folder changes only now
            write_config()

    if processes.primary and not options.resume:
        if splits.split is not None:
            splits.split.save(folder / SPLIT_FILE)
        write_config()
    checkpoint = ModelCheckpoint(
        CheckpointConfig(
            dirpath=folder / "checkpoints",
            monitor=MONITOR,
            mode="min",
            every_n_epochs=options.checkpoint_every,
            keep_latest=options.keep_checkpoints,
        )
    )
    callbacks: list[Callback] = [MetricsLogger(folder), FirstStep(started)]
    if options.early_stopping is not None:
        callbacks.append(
            EarlyStopping(
                EarlyStoppingConfig(monitor=MONITOR, patience=options.early_stopping, mode="min")
            )
        )
    callbacks += experiment_loggers(options, folder, splits.validation[:8], splits)
    callbacks += [checkpoint, ProgressBar(print_every_seconds=5.0)]
    mesh = data_parallel_mesh() if options.distributed else None
    trainer = Trainer(
        vae,
        callbacks=callbacks,
        loss_type=options.loss_type,
        steps_per_dispatch=options.steps_per_dispatch,
        mesh=mesh,
    )
    validation = _validation_loader(splits.validation, processes)
    start = time.perf_counter()
    history = trainer.fit(loader, epochs=options.epochs, val_data=validation, resume=options.resume)
    return history, vae, time.perf_counter() - start


def _print_summary(
    options: TrainOptions, folder: Path, summary: dict[str, Any], analysis: Analysis
) -> None:
    model = {"mlp": "an MLP", "conv": "a convolutional"}[options.model]
    on = options.dataset if options.data is None else str(options.data)
    print(
        f"elbox: trained {model} VAE ({options.framework}) on {on} for "
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
    if analysis.log_likelihood is not None:
        print(
            f"  log-likelihood bound: {analysis.log_likelihood:.2f} nats per example "
            f"(importance-weighted, K={analysis.num_samples}, "
            f"{analysis.bound_examples} test examples)"
        )
    print(
        f"  active units: {analysis.active_units} of {analysis.active.size} latent dimensions "
        f"(posterior-mean variance > {ACTIVE_THRESHOLD}); mutual information I(x; z): "
        f"{analysis.mutual_information:.2f} nats"
    )
    print(f"  run folder: {folder}")
    print(f"  plots: {folder / 'plots'}/{{{','.join(_plots.PLOT_NAMES)}}}.png")


# -- reading a run back ------------------------------------------------------------------


LoadedRun = tuple[TrainOptions, Splits, VAETrainer[Any], int | None]


def _load_run(folder: Path, *, data: DataFile | None = None) -> LoadedRun:
    """The run's options, data, and a VAETrainer holding its best checkpoint."""
    config_file = folder / CONFIG_FILE
    if not config_file.exists():
        raise RunError(f"{folder} holds no elbox run (no {CONFIG_FILE})")
    saved = json.loads(config_file.read_text())
    options = TrainOptions.from_json(saved["options"])
    if options.data is not None and data is None:
        data = open_own_data(options)
        check_same_data(saved.get("data"), data, folder)
    splits = load_splits(options, data=data, folder=folder)
    vae, _ = build_vae(options, splits.image_shape, *saved_settings(saved, options))
    checkpoints = folder / "checkpoints"
    if not checkpoints.is_dir():
        raise RunError(f"{folder} holds no checkpoints")
    with CheckpointStore(checkpoints, monitor=MONITOR, mode="min") as store:
        state, metadata, _ = store.restore(vae.state, which="best")
    vae.load_state(state)
    epoch = metadata.get("epoch")
    return options, splits, vae, None if epoch is None else int(epoch)


def _evaluate(folder: Path, loaded: LoadedRun) -> tuple[Analysis, int | None]:
    options, splits, vae, epoch = loaded
    assert options.loss_type is not None  # resolved when the run started
    analysis = analyse(vae, splits.test, loss_type=options.loss_type)
    (folder / "evaluation.json").write_text(
        json.dumps({"checkpoint_epoch": epoch, **analysis.to_json()}, indent=2)
    )
    return analysis, epoch


def evaluate_run(
    folder: Path, metrics: Sequence[str] | None = None, *, num_samples: int = 1000
) -> dict[str, Any]:
    """The metrics (`metrics`, or all that apply) of the best checkpoint of the run in
    `folder` on its test split, also written to its `evaluation.json`."""
    from ._evaluation import chosen_metrics, evaluate

    with holding(folder):
        loaded = _load_run(folder)
        names = chosen_metrics(metrics, loaded[0])
        return evaluate(folder, loaded, names, num_samples=num_samples)


def _images(values: Any, splits: Splits, loss_type: object) -> npt.NDArray[Any]:
    """Examples or decoder outputs as images in [0, 1]: (n, H, W) grey or (n, H, W, 3)."""
    images = to_display(decoder_mean(values, loss_type), splits.image_shape, splits.value_range)
    return images if images.shape[-1] == 3 else images[..., 0]


def plot_run(folder: Path) -> list[Path]:
    """(Re)draw the plots of the run in `folder` from its metrics and best checkpoint."""
    with holding(folder):
        return _plot(folder, _load_run(folder))


def _plot(folder: Path, loaded: LoadedRun) -> list[Path]:
    options, splits, vae, _ = loaded
    assert options.loss_type is not None  # resolved when the run started
    steps: dict[str, list[float]] = {}
    epochs: list[dict[str, Any]] = []
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.pop("kind") == "step":
            for name, value in record.items():
                steps.setdefault(name, []).append(math.nan if value is None else float(value))
        else:
            epochs.append(record)
    plots = folder / "plots"
    paths = [_plots.plot_training_curves(steps, epochs, plots / "training_curves.png")]
    analysis = analyse(vae, splits.test, loss_type=options.loss_type, num_samples=0)
    paths.append(
        _plots.plot_kl_per_dimension(
            analysis.kl_per_dimension,
            analysis.mean_variance,
            ACTIVE_THRESHOLD,
            plots / "kl_per_dimension.png",
        )
    )
    model, loss_type = vae.model, options.loss_type
    inputs = splits.test[:12]
    mean, _ = model.encode(jnp.asarray(inputs))
    paths.append(
        _plots.plot_reconstructions(
            _images(inputs, splits, None),
            _images(model.decode(mean), splits, loss_type),
            plots / "reconstructions.png",
        )
    )
    z = jax.random.normal(jax.random.key(options.seed + 1), (64, options.latent))
    paths.append(
        _plots.plot_samples(_images(model.decode(z), splits, loss_type), plots / "samples.png")
    )
    order = np.argsort(-analysis.kl_per_dimension)[: min(6, options.latent)]
    values = np.linspace(-3.0, 3.0, 9)
    base = np.zeros(options.latent, np.float32)
    rows = []
    for dimension in order:
        codes = np.repeat(base[None, :], len(values), axis=0)
        codes[:, dimension] = values
        rows.append(_images(model.decode(jnp.asarray(codes)), splits, loss_type))
    paths.append(
        _plots.plot_traversals(
            np.stack(rows), [int(d) for d in order], values, plots / "traversals.png"
        )
    )
    return paths
