"""The files of a run folder that several commands read and write, and the metric that picks
its best checkpoint."""

CONFIG_FILE = "config.json"
"""The run's options, VAE config, objective, data and length."""

SUMMARY_FILE = "summary.json"
"""What `elbox train` measured at the end of the run."""

MONITOR = "val_neg_elbo"
"""The epoch metric that ranks a run's checkpoints (lower is better)."""
