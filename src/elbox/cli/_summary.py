"""The lines `elbox train` prints when a run ends."""

import dataclasses
from pathlib import Path
from typing import Any

from ._analysis import ACTIVE_THRESHOLD, Analysis
from ._evaluation import describe_information, likelihood_line
from ._options import TrainOptions
from ._plots import PLOT_NAMES
from ._run_files import monitor_of


def print_summary(
    options: TrainOptions, folder: Path, summary: dict[str, Any], analysis: Analysis
) -> None:
    """Print what the run trained, how the validation loss went, and the test metrics."""
    model = {"mlp": "an MLP", "conv": "a convolutional"}[options.model]
    model += " (BatchNorm)" if options.batch_norm else ""
    on = options.dataset if options.data is None else str(options.data)
    weights = "" if options.ema_decay is None else " (EMA weights)"
    print(
        f"elbox: trained {model} VAE ({options.framework}) on {on} for "
        f"{summary['epochs']} epochs ({summary['steps']} steps) in {summary['seconds']:.1f} s"
    )
    normalised = analysis.likelihood.normalised
    elbo = "negative ELBO" if normalised else "loss"
    print(f"  {likelihood_line(dataclasses.asdict(analysis.likelihood))}")
    print(
        f"  validation {elbo}{weights}: {summary['first_epoch_val_neg_elbo']:.2f} "
        "(first epoch) "
        f"-> {summary['last_epoch_val_neg_elbo']:.2f} (last epoch)"
    )
    print(
        f"  test {elbo}: {analysis.neg_elbo:.2f} nats per example "
        f"(reconstruction {analysis.recon_loss:.2f} + KL {analysis.kl:.2f}), best checkpoint "
        f"(epoch {summary['best_epoch']}, by {monitor_of(options.ema_decay)}){weights}"
    )
    if analysis.bound is not None:
        bits = analysis.bits_per_dim
        in_bits = "" if bits is None else f" ({bits:.3f} bits per dimension)"
        print(
            f"  {'log-likelihood bound' if normalised else 'importance-weighted loss'}: "
            f"{analysis.bound:.2f} nats per example{in_bits} (importance-weighted, "
            f"K={analysis.num_samples}, {analysis.bound_examples} test examples)"
        )
    print(
        f"  active units: {analysis.active_units} of {analysis.active.size} latent dimensions "
        f"(posterior-mean variance > {ACTIVE_THRESHOLD}); mutual information I(x; z): "
        f"{describe_information(analysis.to_json())}"
    )
    print(f"  run folder: {folder}")
    print(f"  plots: {folder / 'plots'}/{{{','.join(PLOT_NAMES)}}}.png")
