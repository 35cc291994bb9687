"""`elbox study NAME`: train a grid of settings, each for several seeds, and report.

Every setting is checked before anything trains. The seeds of a setting train together
(see `_seeds`); after each setting its rows are appended to `study.csv` and `study.md` and
the plot are redrawn, so a study killed midway keeps what it finished, and `--resume`
skips the settings whose every seed has a row.
"""

import dataclasses
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..._atomic import write_atomic, write_json
from .._build import training_config
from .._errors import RunError
from .._options import TrainOptions, check_options
from .._splits import Splits, load_splits
from .._train import resolve_options
from ._grid import GridError, parse_grid
from ._measure import METRICS, measure
from ._report import (
    CSV_FILE,
    MARKDOWN_FILE,
    PLOT_FILE,
    Row,
    columns,
    complete_settings,
    markdown,
    plot,
    read_rows,
    write_rows,
)
from ._seeds import train_seeds
from ._spec import STUDIES, Measures, Setting, StudySpec

SPEC_FILE = "study.json"
_FORMAT = 1


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

    def record(self) -> dict[str, Any]:
        """What `study.json` holds: enough to tell whether `--resume` continues this study."""
        return {
            "format": _FORMAT,
            "name": self.spec.name,
            "seeds": self.seeds,
            "epochs": self.epochs,
            "measures": self.measures,
            "settings": {
                setting.label: self.options[setting.label].to_json() for setting in self.settings
            },
        }


def _measures(spec: StudySpec, options: Sequence[TrainOptions]) -> Measures:
    if spec.name != "grid":
        return spec.measures
    return "disentanglement" if all(o.dataset == "shapes_grid" for o in options) else "collapse"


def plan_study(
    name: str,
    *,
    seeds: int,
    epochs: int | None,
    grid: Sequence[str],
    output: Path | None,
) -> StudyPlan:
    """Check everything a study needs before it trains anything.

    Raises:
        StudyError: for an unknown study, a bad `--grid`, a setting whose options or VAE
            configuration are invalid, or bad `--seeds` / `--epochs`.
    """
    spec = STUDIES.get(name)
    if spec is None:
        raise StudyError(f"unknown study {name!r}; the studies are {', '.join(STUDIES)}")
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
    return StudyPlan(spec, settings, options, list(range(seeds)), chosen_epochs, measures, folder)


def prepare_folder(
    plan: StudyPlan, *, resume: bool, overwrite: bool, command: str = ""
) -> tuple[list[Row], str]:
    """Make the study's folder ready: the rows of the settings a resumed study finished, and
    the command that started the study (`command`, or a resumed study's own).

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
            saved = json.loads(record_path.read_text())
            started_by = str(saved.pop("command", command))
            if saved != plan.record():
                raise StudyError(
                    f"--resume: {folder} holds study {saved.get('name')!r} with other "
                    "settings, seeds or epochs; repeat the original command, or use "
                    "--overwrite to start again"
                )
            rows = read_rows(folder / CSV_FILE) if (folder / CSV_FILE).exists() else []
            done = complete_settings(rows, plan.seeds)
            return [row for row in rows if row["setting"] in done], started_by
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
    write_json(record_path, {"command": command, **plan.record()})
    return [], command


def _splits(cache: dict[tuple[str, str], Splits], options: TrainOptions) -> Splits:
    key = (options.dataset, options.model)
    if key not in cache:
        cache[key] = load_splits(options)
    return cache[key]


def run_study(plan: StudyPlan, rows: list[Row], *, command: str) -> Path:
    """Train and measure every setting not in `rows`; write the study's files as it goes.

    Returns:
        The path of `study.md`.
    """
    metric_names = list(METRICS[plan.measures])
    header = columns(plan.spec, metric_names)
    done = complete_settings(rows, plan.seeds)
    cache: dict[tuple[str, str], Splits] = {}
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
            values = measure(trainer, options, splits, plan.measures, seed=seed)
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
        write_rows(plan.output / CSV_FILE, header, rows)
        _write_report(plan, rows, metric_names, command)
        print(
            f"{prefix}: {len(plan.seeds)} seeds trained together in {trained.seconds:.1f} s, "
            f"measured in {time.perf_counter() - start - trained.seconds:.1f} s",
            flush=True,
        )
    return _write_report(plan, rows, metric_names, command)


def _write_report(
    plan: StudyPlan, rows: Sequence[Row], metric_names: Sequence[str], command: str
) -> Path:
    text = markdown(
        plan.spec, plan.settings, rows, metric_names, command=command, epochs=plan.epochs
    )
    path = plan.output / MARKDOWN_FILE
    write_atomic(path, text)
    shown = [name for name in plan.spec.plot_metrics if name in metric_names] or metric_names
    plot(plan.spec, plan.settings, rows, shown, plan.output / PLOT_FILE)
    return path
