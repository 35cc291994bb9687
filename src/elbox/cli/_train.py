"""`elbox train`: the run folder, the training loop with its callbacks, and the summary."""

import dataclasses
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import jax

from .._atomic import write_json
from .._config import VAETrainingConfig
from .._custom_types import ObjectiveOptions
from .._faults import fault_point
from .._sharding import data_parallel_mesh
from ..data import DataFile
from ..trainers._vae_trainer import VAETrainer
from ..training import (
    Callback,
    CheckpointConfig,
    EarlyStopping,
    EarlyStoppingConfig,
    FitInterruptedError,
    MetricsLogger,
    ModelCheckpoint,
    ProgressBar,
    Trainer,
)
from ._build import build_vae, run_settings, saved_settings
from ._errors import RunError
from ._evaluation import evaluate_at_end
from ._interrupts import Interrupted, Interruptions
from ._likelihood import check_likelihood_data, default_likelihood, run_likelihood
from ._load_run import load_run
from ._loggers import check_logger_packages, experiment_loggers
from ._options import TrainOptions, check_options, default_output
from ._own_data import SPLIT_FILE, check_same_data, data_record, open_own_data
from ._plot_run import plot
from ._processes import Processes, agree_flag, agree_text, join_processes
from ._resume import check_same_run, length_note, read_run_config
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


def train(
    options: TrainOptions,
    given: Mapping[str, Any] | None = None,
    *,
    interruptions: Interruptions | None = None,
) -> Path:
    """Train as `options` say, write the run folder, print a summary; the folder's path.

    `given` holds the options chosen explicitly (flags and config file), for the checks;
    `interruptions`, the command's signal handler, which the training loop takes over
    while it trains (a signal then stops it after a step, with a checkpoint).
    """
    processes = join_processes(options.distributed)
    folder = _train(options, given, processes, interruptions or Interruptions())
    if options.distributed:
        jax.distributed.shutdown()
    return folder


def _train(
    options: TrainOptions,
    given: Mapping[str, Any] | None,
    processes: Processes,
    interruptions: Interruptions,
) -> Path:
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
            saved = read_run_config(folder)
            if data is not None:
                check_same_data(saved.get("data"), data, folder)
            splits = load_splits(options, data=data, folder=folder)
            check_sizes(options, splits, processes)
        history, vae, seconds = _fit(options, splits, run, processes, saved, interruptions)
    except Interrupted as interruption:
        started = run.started
        run.close(failed=True)
        if not started and not interruption.detail:
            interruption.detail = "before the first training step; " + (
                "the run is as it was" if options.resume else "nothing was kept"
            )
        raise
    except BaseException:
        run.close(failed=True)
        raise
    try:
        _report(folder, data, history, vae, seconds, options, processes, interruptions)
    except Interrupted as interruption:
        interruption.detail = (
            "after training, whose checkpoints are saved; `elbox train --output "
            f"{folder} --resume` writes the evaluation, plots and summary"
        )
        raise
    finally:
        run.close(failed=False)
    return folder


def _report(
    folder: Path,
    data: DataFile | None,
    history: Any,
    vae: VAETrainer[Any],
    seconds: float,
    options: TrainOptions,
    processes: Processes,
    interruptions: Interruptions,
) -> None:
    """Evaluate the best checkpoint, draw the plots, write and print the summary."""
    loaded = load_run(folder, data=data)  # every process: reading checkpoints is collective
    if processes.primary:
        fault_point("evaluation")  # a test hook (elbox._faults)
        interruptions.check()
        analysis = evaluate_at_end(folder, loaded, epochs=options.epochs, options=options)
        interruptions.check()
        plot(folder, loaded, analysis=analysis)
        interruptions.check()
        monitor = monitor_of(options.ema_decay)
        summary = {
            "seconds": seconds,
            "epochs": len(history.epochs),
            "steps": vae.step,
            "first_epoch_val_neg_elbo": history.epochs[0][monitor],
            "last_epoch_val_neg_elbo": history.epochs[-1][monitor],
            # Counted from 1, as the progress lines count them.
            "best_epoch": None if loaded.epoch is None else loaded.epoch + 1,
            "stop_reason": history.stop_reason,
            "processes": processes.count,
            "test": analysis.to_json(),
        }
        write_json(folder / SUMMARY_FILE, summary)
        print_summary(options, folder, summary, analysis)


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
    saved: dict[str, Any] | None,
    interruptions: Interruptions,
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
        write_json(folder / CONFIG_FILE, record)

    trainer: Trainer | None = None

    def started() -> None:
        run.started = True
        if options.resume and processes.primary:  # a resumed run's folder changes only now
            write_config()
        if trainer is not None and processes.count == 1:
            # From now on a signal stops the loop after a step, which it saves. (With
            # several processes each would stop at another step: a signal ends them at once,
            # and --resume continues from the last epoch's checkpoint.)
            interruptions.set_graceful(trainer.request_interrupt)

    if saved is not None and processes.primary:
        note = length_note(saved, options)
        if note is not None:
            print(f"elbox train: note: {note}", file=sys.stderr)
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
    try:
        history = trainer.fit(
            loader, epochs=options.epochs, val_data=validation, resume=options.resume
        )
    except FitInterruptedError as interruption:
        signum = interruptions.received or 2
        raise Interrupted(
            signum,
            f"stopped after {interruption.step} of {options.epochs * len(loader)} steps, "
            f"all saved in {folder / 'checkpoints'}; continue with: elbox train --output "
            f"{folder} --resume",
        ) from None
    finally:
        interruptions.set_graceful(None)
    return history, vae, time.perf_counter() - start
