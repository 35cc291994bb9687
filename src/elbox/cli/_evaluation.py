"""`elbox eval RUN`: the metrics that apply to a run, as a table and `evaluation.json`.

Every run gets the test negative ELBO, the log-likelihood bound, the active units and the
mutual information; a run on data with ground-truth factors (`--dataset shapes_grid`) also
gets the disentanglement scores.
"""

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._atomic import write_json
from ._analysis import ACTIVE_THRESHOLD, Analysis, analyse, end_of_run_examples
from ._disentanglement import DEFAULT_BUDGET, SCORES, disentanglement_scores
from ._errors import RunError
from ._load_run import LoadedRun, load_run
from ._options import TrainOptions
from ._run_folder import holding

GENERAL = ("neg_elbo", "log_likelihood", "active_units", "mutual_information")
"""The metrics of every run."""

METRIC_NAMES = GENERAL + SCORES
"""Everything `elbox eval --metrics` takes."""

EVALUATION_FILE = "evaluation.json"


def has_factors(options: TrainOptions) -> bool:
    """Whether the run's data has ground-truth factors (the shapes factor grid)."""
    return options.data is None and options.dataset == "shapes_grid"


def chosen_metrics(requested: Sequence[str] | None, options: TrainOptions) -> list[str]:
    """The metrics to compute: those asked for (checked), or all that apply.

    Raises:
        RunError: for an unknown name, or a disentanglement score of a run whose data has
            no ground-truth factors.
    """
    applicable = list(GENERAL) + (list(SCORES) if has_factors(options) else [])
    if not requested:
        return applicable
    unknown = [name for name in requested if name not in METRIC_NAMES]
    if unknown:
        raise RunError(
            f"--metrics: unknown {', '.join(map(repr, unknown))}; the metrics are "
            f"{', '.join(METRIC_NAMES)}"
        )
    without = [name for name in requested if name not in applicable]
    if without:
        data = options.dataset if options.data is None else str(options.data)
        raise RunError(
            f"--metrics {' '.join(without)}: disentanglement scores need ground-truth factors, "
            f"which {data} has not; train on --dataset shapes_grid for them"
        )
    return list(dict.fromkeys(requested))


def _epoch(loaded: LoadedRun) -> int | None:
    """The checkpoint's epoch counted from 1, as the progress lines count epochs."""
    return None if loaded.epoch is None else loaded.epoch + 1


def evaluate(
    folder: Path,
    loaded: LoadedRun,
    names: Sequence[str],
    *,
    num_samples: int,
    examples: int | None = None,
) -> dict[str, Any]:
    """Compute `names` for the run's best checkpoint and write `evaluation.json`."""
    options, splits, vae = loaded.options, loaded.splits, loaded.vae
    assert options.loss_type is not None  # resolved when the run started
    if num_samples < 1:
        raise RunError(f"--num-samples must be >= 1; got {num_samples}")
    if examples is not None and examples < 2:
        raise RunError(f"--examples must be >= 2; got {examples}")
    analysis = analyse(
        vae,
        splits.test,
        loss_type=options.loss_type,
        num_samples=num_samples if "log_likelihood" in names else 0,
        examples=examples,
    )
    record: dict[str, Any] = {
        "checkpoint_epoch": _epoch(loaded),
        "metrics": list(names),
        **analysis.to_json(),
    }
    scores = [name for name in names if name in SCORES]
    if scores:
        record["disentanglement"] = disentanglement_scores(vae.model, options, scores, seed=0)
        record["disentanglement_budget"] = dataclasses.asdict(DEFAULT_BUDGET)
    write_json(folder / EVALUATION_FILE, record)
    return record


def evaluate_at_end(
    folder: Path, loaded: LoadedRun, *, epochs: int, options: TrainOptions
) -> Analysis:
    """The evaluation `elbox train` ends with, written to `evaluation.json`: the bound with
    `--eval-samples` samples on `--eval-examples` test examples (by default as many as
    cost about what `epochs` of training did: `end_of_run_examples`)."""
    vae, splits = loaded.vae, loaded.splits
    assert options.loss_type is not None  # resolved when the run started
    samples = options.eval_samples
    examples = options.eval_examples
    if examples is None:
        examples = end_of_run_examples(
            len(splits.test), samples, epochs=epochs, train_examples=len(splits.train)
        )
    analysis = analyse(
        vae, splits.test, loss_type=options.loss_type, num_samples=samples, examples=examples
    )
    write_json(folder / EVALUATION_FILE, {"checkpoint_epoch": _epoch(loaded), **analysis.to_json()})
    return analysis


def evaluate_run(
    folder: Path,
    metrics: Sequence[str] | None = None,
    *,
    num_samples: int = 1000,
    examples: int | None = None,
) -> dict[str, Any]:
    """The metrics (`metrics`, or all that apply) of the best checkpoint of the run in
    `folder` on its test split, also written to its `evaluation.json`."""
    with holding(folder):
        loaded = load_run(folder)
        names = chosen_metrics(metrics, loaded.options)
        return evaluate(folder, loaded, names, num_samples=num_samples, examples=examples)


def describe_information(record: dict[str, Any]) -> str:
    """The mutual information with the Monte Carlo estimate it comes from and its bounds:
    `0.00 nats (estimate -0.24, bounded by 0 and log N = 9.21)`."""
    value = record["mutual_information"]
    low, high = record.get("mutual_information_bounds") or [0.0, math.inf]
    estimate = record.get("mutual_information_estimate")
    shown = value if estimate is None else estimate
    return f"{value:.2f} nats (estimate {shown:.2f}, bounded by {low:g} and log N = {high:.2f})"


def table(record: dict[str, Any]) -> list[str]:
    """The evaluation as the lines `elbox eval` prints."""
    names = record["metrics"]
    rows: list[tuple[str, str, str]] = []
    if "neg_elbo" in names:
        rows.append(
            (
                "test negative ELBO",
                f"{record['neg_elbo']:.2f}",
                f"nats per example (reconstruction {record['recon_loss']:.2f} + "
                f"KL {record['kl']:.2f})",
            )
        )
    if "log_likelihood" in names:
        rows.append(
            (
                "log-likelihood bound",
                f"{record['log_likelihood']:.2f}",
                f"nats per example (importance-weighted, K={record['num_samples']}, "
                f"{record['bound_examples']} examples)",
            )
        )
    if "active_units" in names:
        rows.append(
            (
                "active units",
                str(record["active_units"]),
                f"of {record['latent_dimensions']} (posterior-mean variance > {ACTIVE_THRESHOLD})",
            )
        )
    if "mutual_information" in names:
        value, _, note = describe_information(record).partition(" ")
        rows.append(("mutual information", value, note))
    for name, value in record.get("disentanglement", {}).items():
        rows.append((name.replace("_", " "), f"{value:.3f}", ""))
    width = max(len(name) for name, _, _ in rows)
    number = max(len(value) for _, value, _ in rows)
    return [f"  {name:<{width}}  {value:>{number}}  {note}".rstrip() for name, value, note in rows]
