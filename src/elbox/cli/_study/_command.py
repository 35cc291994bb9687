"""`elbox study NAME`: train a grid of settings, each for several seeds, and report.

Every setting is checked before anything trains. The seeds of a setting train together
(see `_seeds`); after each setting its rows are appended to `study.csv`, the paired
differences (`paired.csv`), `study.md` and the plot are redrawn, and `study.json` records
the wall time so far and each setting's data (examples, steps), so a study killed midway
keeps what it finished, and `--resume` skips the settings whose every seed has a row.
"""

import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import jax

from ..._atomic import write_atomic
from .._build import training_config
from .._disentanglement import DEFAULT_BUDGET, Budget
from .._errors import RunError
from .._ground_truth import GROUND_TRUTH_DATASETS, has_factors
from .._likelihood import check_likelihood_data
from .._options import OPTION_DEFAULTS, DatasetName, TrainOptions, check_options
from .._splits import Splits, load_splits
from .._train import resolve_options
from ._grid import GridError, parse_grid
from ._measure import METRICS, measure
from ._paired import PAIRED_COLUMNS, comparisons, paired_rows
from ._report import (
    CSV_FILE,
    MARKDOWN_FILE,
    PLOT_FILE,
    Row,
    columns,
    complete_settings,
    markdown,
    paired_metrics,
    plot,
    read_rows,
    write_rows,
)
from ._seeds import train_seeds
from ._spec import STUDIES, Measures, Setting, StudySpec, on_dataset

SPEC_FILE = "study.json"
PAIRED_FILE = "paired.csv"
_FORMAT = 2
# What study.json records of a run, beside the plan: not compared by --resume.
_RUN_KEYS = ("command", "run")
# The options that say where the data is, not what a study computes.
_DATA_PLACE = ("data_dir", "no_download")


class StudyError(RunError):
    """A study cannot start as asked; the message names the part that is wrong (the
    command exits with status 2)."""


@dataclasses.dataclass(frozen=True)
class StudyPlan:
    """A checked study: what to train and where."""

    spec: StudySpec
    settings: list[Setting]
    options: dict[str, TrainOptions]
    """Each setting's options for seed 0, by setting label."""
    seeds: list[int]
    epochs: int
    measures: Measures
    output: Path
    budget: Budget | None = None
    """The disentanglement scores' budget (None for a study that measures collapse)."""

    def record(self) -> dict[str, Any]:
        """What `study.json` holds of the plan: enough to tell whether `--resume` continues
        this study.

        Where the standard data sets are kept (`--data-dir`, `--no-download`) is left out:
        it does not change what a study computes, and may change when it is resumed.
        """
        return {
            "format": _FORMAT,
            "name": self.spec.name,
            "seeds": self.seeds,
            "epochs": self.epochs,
            "measures": self.measures,
            "budget": None if self.budget is None else dataclasses.asdict(self.budget),
            "settings": {
                setting.label: {
                    name: value
                    for name, value in self.options[setting.label].to_json().items()
                    if name not in _DATA_PLACE
                }
                for setting in self.settings
            },
        }


def same_plan(saved: dict[str, Any], plan: StudyPlan) -> bool:
    """Whether the plan part of a `study.json` is `plan`'s record.

    An option that elbox gained after the study was written is absent from its settings;
    the study ran with that option's default, so an absent option matches the record
    where the record holds the default (and only there).
    """
    record = plan.record()
    settings = saved.get("settings")
    if not isinstance(settings, dict) or settings.keys() != record["settings"].keys():
        return False
    completed = {}
    for label, options in settings.items():
        if not isinstance(options, dict):
            return False
        current = record["settings"][label]
        added = {
            name: value
            for name, value in current.items()
            if name not in options and name in OPTION_DEFAULTS and OPTION_DEFAULTS[name] == value
        }
        completed[label] = {**options, **added}
    return {**saved, "settings": completed} == record


def _measures(spec: StudySpec, options: Sequence[TrainOptions]) -> Measures:
    if spec.name != "grid":
        return spec.measures
    return "disentanglement" if all(has_factors(o) for o in options) else "collapse"


def _on_dataset(
    spec: StudySpec, dataset: str | None, data_dir: Path | None, no_download: bool
) -> StudySpec:
    """The study on `--dataset`, with `--data-dir` and `--no-download` in every run."""
    if dataset is not None:
        names = get_args(DatasetName)
        if dataset not in names:
            raise StudyError(f"--dataset {dataset!r}: the data sets are {', '.join(names)}")
        if spec.measures == "disentanglement" and dataset not in GROUND_TRUTH_DATASETS:
            raise StudyError(
                f"--dataset {dataset}: the {spec.name} study measures disentanglement, which "
                f"needs ground-truth factors: use {', '.join(GROUND_TRUTH_DATASETS[:-1])} or "
                f"{GROUND_TRUTH_DATASETS[-1]}"
            )
        spec = on_dataset(spec, dataset)
    place: dict[str, Any] = {}
    if data_dir is not None:
        place["data_dir"] = data_dir
    if no_download:
        place["no_download"] = True
    return dataclasses.replace(spec, base={**spec.base, **place}) if place else spec


def plan_study(
    name: str,
    *,
    seeds: int,
    epochs: int | None,
    grid: Sequence[str],
    output: Path | None,
    budget: Sequence[str] = (),
    dataset: str | None = None,
    data_dir: Path | None = None,
    no_download: bool = False,
) -> StudyPlan:
    """Check everything a study needs before it trains anything.

    Raises:
        StudyError: for an unknown study, a bad `--grid`, a setting whose options or VAE
            configuration are invalid, bad `--seeds` / `--epochs`, a bad `--budget` (or
            one given to a study that computes no disentanglement score), or a `--dataset`
            the study cannot measure.
    """
    spec = STUDIES.get(name)
    if spec is None:
        raise StudyError(f"unknown study {name!r}; the studies are {', '.join(STUDIES)}")
    spec = _on_dataset(spec, dataset, data_dir, no_download)
    try:
        for text in grid:
            spec = spec.with_axis(parse_grid(text))
    except GridError as error:
        raise StudyError(str(error)) from None
    if spec.name == "grid" and not spec.axes:
        raise StudyError("the study `grid` is made of --grid options: give at least one")
    if seeds < 1:
        raise StudyError(f"--seeds must be >= 1; got {seeds}")
    chosen_epochs = spec.epochs if epochs is None else epochs
    if chosen_epochs < 1:
        raise StudyError(f"--epochs must be >= 1; got {chosen_epochs}")
    settings = spec.settings()
    options: dict[str, TrainOptions] = {}
    for setting in settings:
        fields = {**spec.base, **setting.options, "epochs": chosen_epochs}
        try:
            chosen = resolve_options(TrainOptions(**fields), data=None)
            problems = check_options(chosen)
            if problems:
                raise ValueError("; ".join(problems))
            training_config(chosen, total_steps=1000)  # the VAE config's own checks
        except (TypeError, ValueError) as error:
            raise StudyError(f"setting {setting.label!r}: {error}") from None
        options[setting.label] = chosen
    measures = _measures(spec, list(options.values()))
    folder = Path("studies") / spec.name if output is None else output
    chosen_budget: Budget | None = None
    if measures == "disentanglement":
        try:
            chosen_budget = DEFAULT_BUDGET.replaced(budget)
        except ValueError as error:
            raise StudyError(str(error)) from None
    elif budget:
        raise StudyError(
            "--budget sets the disentanglement scores' points: this study measures collapse "
            "and computes none"
        )
    return StudyPlan(
        spec,
        settings,
        options,
        list(range(seeds)),
        chosen_epochs,
        measures,
        folder,
        chosen_budget,
    )


@dataclasses.dataclass
class RunRecord:
    """What `study.json` records of the study's run, beside its plan (`"run"`).

    Attributes:
        command: the command that started the study.
        seconds: the study's wall time, over every session that ran it (`--resume`).
        settings: for each finished setting, by label: its data and length
            (`train_examples`, `validation_examples`, `test_examples`, `steps_per_epoch`,
            `steps`) and `train_seconds`, the wall time of its seeds' training.
        machine: where it ran: `cpus` (the processor count) and `backend` (JAX's).
    """

    command: str
    seconds: float = 0.0
    settings: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    machine: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The `"run"` entry of `study.json`."""
        return {"seconds": self.seconds, "machine": self.machine, "settings": self.settings}


def write_record(plan: StudyPlan, run: RunRecord) -> None:
    """Write `study.json` whole (atomically): the command, the plan and the run."""
    text = json.dumps({"command": run.command, **plan.record(), "run": run.to_json()}, indent=2)
    write_atomic(plan.output / SPEC_FILE, text + "\n")


def read_record(folder: Path) -> dict[str, Any]:
    """The `study.json` of `folder`.

    Raises:
        StudyError: when it is not a JSON object.
    """
    path = folder / SPEC_FILE
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise StudyError(f"{path} cannot be read as a study's record: {error}") from None
    if not isinstance(saved, dict):
        raise StudyError(f"{path} is not a study's record (not a JSON object)")
    return saved


def prepare_folder(
    plan: StudyPlan, *, resume: bool, overwrite: bool, command: str = ""
) -> tuple[list[Row], RunRecord]:
    """Make the study's folder ready: the rows of the settings a resumed study finished, and
    the record of the study's run (the command that started it: `command`, or a resumed
    study's own; the time and settings it has finished).

    Raises:
        StudyError: when the folder holds another study (or anything else) and neither
            `--resume` nor `--overwrite` says what to do with it, or `--resume` finds a
            different study there.
    """
    folder = plan.output
    record_path = folder / SPEC_FILE
    if resume and overwrite:
        raise StudyError("--resume continues a study and --overwrite replaces it: choose one")
    if record_path.exists():
        if resume:
            saved = read_record(folder)
            run = saved.get("run") or {}
            started = RunRecord(
                str(saved.get("command", command)),
                float(run.get("seconds", 0.0)),
                dict(run.get("settings", {})),
                dict(run.get("machine", {})),
            )
            plan_part = {key: value for key, value in saved.items() if key not in _RUN_KEYS}
            if not same_plan(plan_part, plan):
                raise StudyError(
                    f"--resume: {folder} holds study {saved.get('name')!r} with other "
                    "settings, seeds, epochs or budget; repeat the original command, or use "
                    "--overwrite to start again"
                )
            rows = read_rows(folder / CSV_FILE) if (folder / CSV_FILE).exists() else []
            done = complete_settings(rows, plan.seeds)
            started.settings = {
                label: values for label, values in started.settings.items() if label in done
            }
            return [row for row in rows if row["setting"] in done], started
        if not overwrite:
            raise StudyError(
                f"{folder} already holds a study; pass --resume to continue it or "
                "--overwrite to replace it"
            )
        shutil.rmtree(folder)
    elif resume:
        raise StudyError(f"--resume: {folder} holds no study to continue")
    elif folder.exists() and any(folder.iterdir()):
        raise StudyError(f"{folder} is not empty and holds no study; choose a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    started = RunRecord(command)
    write_record(plan, started)
    return [], started


def _splits(cache: dict[tuple[str, str], Splits], options: TrainOptions) -> Splits:
    key = (options.dataset, options.model)
    if key not in cache:
        cache[key] = load_splits(options)
    return cache[key]


def run_study(plan: StudyPlan, rows: list[Row], run: RunRecord) -> Path:
    """Train and measure every setting not in `rows`; write the study's files as it goes.

    Returns:
        The path of `study.md`.
    """
    session = time.perf_counter()
    before = run.seconds
    run.machine = {"cpus": os.cpu_count(), "backend": jax.default_backend()}
    metric_names = list(METRICS[plan.measures])
    header = columns(plan.spec, metric_names)
    done = complete_settings(rows, plan.seeds)
    cache: dict[tuple[str, str], Splits] = {}
    for setting in plan.settings:  # every likelihood suits its data before anything trains
        options = plan.options[setting.label]
        try:
            check_likelihood_data(options, _splits(cache, options).train)
        except RunError as error:
            raise StudyError(f"setting {setting.label!r}: {error}") from None
    total = len(plan.settings)
    for number, setting in enumerate(plan.settings, start=1):
        prefix = f"[{number}/{total}] {setting.label}"
        if setting.label in done:
            print(f"{prefix}: done before, skipped", flush=True)
            continue
        options = plan.options[setting.label]
        splits = _splits(cache, options)
        start = time.perf_counter()
        trained = train_seeds(options, plan.seeds, splits)
        for seed, trainer, skipped in zip(
            plan.seeds, trained.trainers, trained.skipped, strict=True
        ):
            values = measure(trainer, options, splits, plan.measures, seed=seed, budget=plan.budget)
            rows.append(
                {
                    "setting": setting.label,
                    **setting.levels,
                    "seed": seed,
                    **values,
                    "seconds": trained.seconds / len(plan.seeds),
                    "skipped_steps": skipped,
                }
            )
        run.settings[setting.label] = {
            "train_examples": len(splits.train),
            "validation_examples": len(splits.validation),
            "test_examples": len(splits.test),
            "steps_per_epoch": trained.steps_per_epoch,
            "steps": trained.steps_per_epoch * plan.epochs,
            "train_seconds": trained.seconds,
        }
        run.seconds = before + time.perf_counter() - session
        write_rows(plan.output / CSV_FILE, header, rows)
        _write_report(plan, rows, metric_names, run)
        print(
            f"{prefix}: {len(plan.seeds)} seeds trained together in {trained.seconds:.1f} s, "
            f"measured in {time.perf_counter() - start - trained.seconds:.1f} s",
            flush=True,
        )
    run.seconds = before + time.perf_counter() - session
    return _write_report(plan, rows, metric_names, run)


def report_notes(plan: StudyPlan, rows: Sequence[Row]) -> list[str]:
    """The sentences under `study.md`'s header: the scoring budget, and the examples of
    the mutual information."""
    notes = [] if plan.budget is None else [plan.budget.describe()]
    counts = sorted(
        {round(math.exp(float(row["mi_ceiling"]))) for row in rows if "mi_ceiling" in row}
    )
    if counts:
        examples = " or ".join(f"{count:,}" for count in counts)
        notes.append(
            f"The mutual information is estimated on N = {examples} examples, so it cannot "
            f"exceed log N (`mi_ceiling`); the plot marks that ceiling."
        )
    return [" ".join(notes)] if notes else []


def _write_report(
    plan: StudyPlan, rows: Sequence[Row], metric_names: Sequence[str], run: RunRecord
) -> Path:
    write_record(plan, run)
    found = comparisons(plan.spec, plan.settings)
    paired = paired_rows(found, rows, paired_metrics(metric_names))
    write_rows(plan.output / PAIRED_FILE, PAIRED_COLUMNS, paired)
    text = markdown(
        plan.spec,
        plan.settings,
        rows,
        metric_names,
        command=run.command,
        epochs=plan.epochs,
        seconds=run.seconds,
        notes=report_notes(plan, rows),
    )
    path = plan.output / MARKDOWN_FILE
    write_atomic(path, text)
    shown = [name for name in plan.spec.plot_metrics if name in metric_names] or metric_names
    plot(plan.spec, plan.settings, rows, shown, plan.output / PLOT_FILE)
    return path
