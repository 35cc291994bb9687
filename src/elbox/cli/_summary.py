"""The lines `elbox train` prints when a run ends."""

from pathlib import Path
from typing import Any

from ._analysis import ACTIVE_THRESHOLD, Analysis
from ._evaluation import describe_information
from ._options import TrainOptions
from ._plots import PLOT_NAMES
from ._run_files import MONITOR


def print_summary(
    options: TrainOptions, folder: Path, summary: dict[str, Any], analysis: Analysis
) -> None:
    """Print what the run trained, how the validation loss went, and the test metrics."""
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
        f"{describe_information(analysis.to_json())}"
    )
    print(f"  run folder: {folder}")
    print(f"  plots: {folder / 'plots'}/{{{','.join(PLOT_NAMES)}}}.png")
