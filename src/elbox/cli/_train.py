"""`elbox train`: the run folder, the training loop with its callbacks, and the summary."""

import dataclasses
import json
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import jax

from .._config import VAETrainingConfig
from .._custom_types import ObjectiveOptions
from .._sharding import data_parallel_mesh
from ..data import DataFile
from ..trainers._vae_trainer import VAETrainer
from ..training import (
    Callback,
    CheckpointConfig,
    EarlyStopping,
    EarlyStoppingConfig,
    MetricsLogger,
    ModelCheckpoint,
    ProgressBar,
    Trainer,
)
from ._build import build_vae, run_settings, saved_settings
from ._errors import RunError
from ._evaluation import evaluate_at_end
from ._likelihood import check_likelihood_data, default_likelihood, run_likelihood
from ._load_run import load_run
from ._loggers import check_logger_packages, experiment_loggers
from ._options import TrainOptions, check_options, default_output
from ._own_data import SPLIT_FILE, check_same_data, data_record, open_own_data
from ._plot_run import plot
from ._processes import Processes, agree_flag, agree_text, join_processes
from ._resume import check_same_run
from ._run_files import CONFIG_FILE, SUMMARY_FILE, monitor_of
from ._run_folder import FirstStep, RunFolder, open_run_folder
from ._splits import Splits, batch_loader, check_sizes, load_splits, validation_loader
from ._summary import print_summary


def resolve_options(options: TrainOptions, data: DataFile | None) -> TrainOptions:
    """The options with what depends on the data filled in: the likelihood, when neither
    `--likelihood` nor `--loss-type` chose one (`default_likelihood`: `bce_logits` for the
    binary data sets, `continuous_bernoulli` for other data in [0, 1], on probabilities
    with a sigmoid decoder; the loss type `mse` otherwise), and `--data` as an absolute
    path."""
    changes: dict[str, Any] = {}
    if options.loss_type is None and options.likelihood is None:
        in_unit = data is None or data.in_unit_interval
        changes.update(default_likelihood(options, in_unit_interval=in_unit))
    if options.data is not None:
        changes["data"] = options.data.absolute()
    if options.data_dir is not None:
        changes["data_dir"] = options.data_dir.expanduser().absolute()
    return dataclasses.replace(options, **changes)


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
        check_sizes(options, splits, processes)
        check_likelihood_data(options, splits.train)
    run = _open_folder(options, processes)
    try:
        folder = run.path
        if splits is None:
            check_same_run(folder, options)
            saved = json.loads((folder / CONFIG_FILE).read_text())
            if data is not None:
                check_same_data(saved.get("data"), data, folder)
            splits = load_splits(options, data=data, folder=folder)
            check_sizes(options, splits, processes)
        history, vae, seconds = _fit(options, splits, run, processes, saved)
    except BaseException:
        run.close(failed=True)
        raise
    try:
        loaded = load_run(folder, data=data)  # every process: reading checkpoints is collective
        if processes.primary:
            monitor = monitor_of(options.ema_decay)
            analysis = evaluate_at_end(folder, loaded)
            best_epoch = loaded.epoch
            plot(folder, loaded)
            summary = {
                "seconds": seconds,
                "epochs": len(history.epochs),
                "steps": vae.step,
                "first_epoch_val_neg_elbo": history.epochs[0][monitor],
                "last_epoch_val_neg_elbo": history.epochs[-1][monitor],
                "best_epoch": best_epoch,
                "stop_reason": history.stop_reason,
                "processes": processes.count,
                "test": analysis.to_json(),
            }
            (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
            print_summary(options, folder, summary, analysis)
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
    # With --accumulate K a step is one optimizer update over K batches of --batch-size.
    loader = batch_loader(
        splits.train,
        options.batch_size * options.accumulate,
        processes,
        shuffle=True,
        seed=options.seed,
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
            monitor=monitor_of(options.ema_decay),
            mode="min",
            every_n_epochs=options.checkpoint_every,
            keep_latest=options.keep_checkpoints,
        )
    )
    callbacks: list[Callback] = [MetricsLogger(folder), FirstStep(started)]
    if options.early_stopping is not None:
        callbacks.append(
            EarlyStopping(
                EarlyStoppingConfig(
                    monitor=monitor_of(options.ema_decay),
                    patience=options.early_stopping,
                    mode="min",
                )
            )
        )
    callbacks += experiment_loggers(options, folder, splits.validation[:8], splits)
    callbacks += [checkpoint, ProgressBar(print_every_seconds=5.0)]
    mesh = data_parallel_mesh() if options.distributed else None
    trainer = Trainer(
        vae,
        callbacks=callbacks,
        loss_type=run_likelihood(options),
        steps_per_dispatch=options.steps_per_dispatch,
        mesh=mesh,
    )
    validation = validation_loader(splits.validation, processes)
    start = time.perf_counter()
    history = trainer.fit(loader, epochs=options.epochs, val_data=validation, resume=options.resume)
    return history, vae, time.perf_counter() - start
