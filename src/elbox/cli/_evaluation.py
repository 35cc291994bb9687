"""`elbox eval RUN`: the metrics that apply to a run, as a table and `evaluation.json`.

Every run gets the test negative ELBO, the log-likelihood bound, the active units and the
mutual information; a run on data with ground-truth factors (`--dataset shapes_grid`,
`shapes_grid_upright` or `dsprites`) also gets the disentanglement scores. The likelihood
is named in both: the negative ELBO and the bound are those of a log-likelihood only when
it is a normalised distribution of the data (otherwise they are labelled as losses, and
`evaluation.json` has no `log_likelihood`).
"""

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._atomic import write_json
from .._custom_types import Weights
from . import _disentanglement
from ._analysis import ACTIVE_THRESHOLD, Analysis, analyse, end_of_run_examples
from ._disentanglement import SCORES, disentanglement_scores
from ._errors import RunError
from ._ground_truth import has_factors
from ._likelihood import run_likelihood
from ._load_run import DataPlace, LoadedRun, load_run
from ._options import TrainOptions, likelihood_name
from ._run_folder import holding

GENERAL = ("neg_elbo", "log_likelihood", "active_units", "mutual_information")
"""The metrics of every run."""

METRIC_NAMES = GENERAL + SCORES
"""Everything `elbox eval --metrics` takes."""

EVALUATION_FILE = "evaluation.json"


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
            f"which {data} has not; train on --dataset shapes_grid or dsprites for them"
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
    if num_samples < 1:
        raise RunError(f"--num-samples must be >= 1; got {num_samples}")
    if examples is not None and examples < 2:
        raise RunError(f"--examples must be >= 2; got {examples}")
    analysis = analyse(
        vae,
        splits.test,
        likelihood=run_likelihood(options),
        name=str(likelihood_name(options)),
        num_samples=num_samples if "log_likelihood" in names else 0,
        examples=examples,
        weights=loaded.weights,
    )
    record: dict[str, Any] = {
        "checkpoint_epoch": _epoch(loaded),
        "weights": loaded.weights,
        "metrics": list(names),
        **analysis.to_json(),
    }
    scores = [name for name in names if name in SCORES]
    if scores:
        record["disentanglement"] = disentanglement_scores(loaded.model, options, scores, seed=0)
        # Read at call time: the budget of this evaluation, as disentanglement_scores reads it.
        record["disentanglement_budget"] = dataclasses.asdict(_disentanglement.DEFAULT_BUDGET)
    write_json(folder / EVALUATION_FILE, record)
    return record


def evaluate_at_end(
    folder: Path, loaded: LoadedRun, *, epochs: int, options: TrainOptions
) -> Analysis:
    """The evaluation `elbox train` ends with, written to `evaluation.json`: the bound with
    `--eval-samples` samples on `--eval-examples` test examples (by default as many as
    cost about what `epochs` of training did: `end_of_run_examples`)."""
    vae, splits = loaded.vae, loaded.splits
    samples = options.eval_samples
    examples = options.eval_examples
    if examples is None:
        examples = end_of_run_examples(
            len(splits.test), samples, epochs=epochs, train_examples=len(splits.train)
        )
    analysis = analyse(
        vae,
        splits.test,
        likelihood=run_likelihood(options),
        name=str(likelihood_name(options)),
        num_samples=samples,
        examples=examples,
        weights=loaded.weights,
    )
    record = {"checkpoint_epoch": _epoch(loaded), "weights": loaded.weights, **analysis.to_json()}
    write_json(folder / EVALUATION_FILE, record)
    return analysis


def evaluate_run(
    folder: Path,
    metrics: Sequence[str] | None = None,
    *,
    num_samples: int = 1000,
    place: DataPlace | None = None,
    weights: Weights | None = None,
    examples: int | None = None,
) -> dict[str, Any]:
    """The metrics (`metrics`, or all that apply) of the best checkpoint of the run in
    `folder` on its test split, also written to its `evaluation.json`; `place` says where
    its standard data set is now, `weights` chooses the trained parameters or their
    average (default: the average, for a run with one)."""
    with holding(folder):
        loaded = load_run(folder, place=place, weights=weights)
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


def likelihood_line(likelihood: dict[str, Any]) -> str:
    """The line that names a run's likelihood, and says when it is no distribution of the
    data (so that its numbers are losses, not log-likelihoods)."""
    line = f"likelihood: {likelihood['name']} ({likelihood['distribution']})"
    if likelihood["normalised"]:
        return line
    return (
        f"{line}: not a distribution of this data (it is one of {likelihood['support']}), "
        "so the numbers below are losses, not log-likelihoods"
    )


def table(record: dict[str, Any]) -> list[str]:
    """The evaluation as the lines `elbox eval` prints: the likelihood, then a table."""
    names = record["metrics"]
    likelihood = record["likelihood"]
    normalised = likelihood["normalised"]
    rows: list[tuple[str, str, str]] = []
    if "neg_elbo" in names:
        rows.append(
            (
                "test negative ELBO" if normalised else "test loss",
                f"{record['neg_elbo']:.2f}",
                f"nats per example (reconstruction {record['recon_loss']:.2f} + "
                f"KL {record['kl']:.2f})",
            )
        )
    if "log_likelihood" in names:
        bound = record["log_likelihood"] if normalised else record["loss_bound"]
        rows.append(
            (
                "log-likelihood bound" if normalised else "importance-weighted loss",
                f"{bound:.2f}",
                f"nats per example (importance-weighted, K={record['num_samples']}, "
                f"{record['bound_examples']} examples)",
            )
        )
        if record.get("bits_per_dim") is not None:
            rows.append(("bits per dimension", f"{record['bits_per_dim']:.3f}", "the bound"))
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
    if record.get("weights") == "ema":
        rows.append(("weights", "EMA", "the exponential moving average of the parameters"))
    width = max(len(name) for name, _, _ in rows)
    number = max(len(value) for _, value, _ in rows)
    lines = [f"  {name:<{width}}  {value:>{number}}  {note}".rstrip() for name, value, note in rows]
    return [f"  {likelihood_line(likelihood)}", *lines]
