"""The files of a run folder that several commands read and write, the metric that picks
its best checkpoint, and the weights its evaluation uses."""

from .._custom_types import Weights

CONFIG_FILE = "config.json"
"""The run's options, VAE config, objective, data and length."""

SUMMARY_FILE = "summary.json"
"""What `elbox train` measured at the end of the run."""

MONITOR = "val_neg_elbo"
"""The epoch metric that ranks a run's checkpoints (lower is better)."""

EMA_MONITOR = "val_ema_neg_elbo"
"""The same of the weights' average, which ranks the checkpoints of a run with
--ema-decay."""


def monitor_of(ema_decay: float | None) -> str:
    """The metric that ranks the checkpoints of a run with (or without) --ema-decay."""
    return MONITOR if ema_decay is None else EMA_MONITOR


def weights_of(ema_decay: float | None) -> Weights:
    """The weights a run's evaluation and plots use by default: the average of a run with
    --ema-decay, else the trained ones."""
    return "trained" if ema_decay is None else "ema"
