"""History: the metrics of a fit, per step and per epoch."""

import math
from collections.abc import Mapping, Sequence
from typing import Any, final

import numpy as np
import numpy.typing as npt

from .._custom_types import RealNumber


@final
class History:
    """The metrics a `Trainer.fit` recorded, per step and per epoch.

    `steps` holds one list per metric (`step`, `epoch`, `loss`, `recon_loss`, `kl_loss`,
    `kl_weight`, `skipped`, ...), one entry per training step; `epochs` holds one
    dictionary per epoch: the means of the training metrics over the epoch's applied steps,
    `skipped` (how many steps were skipped), `val_*` metrics when there was validation
    data, and `epoch`, `step` (the counter at the epoch's end) and `seconds`.

    Example:
        >>> from elbox.training import History
        >>> history = History()
        >>> history.record_step(0, 0, {"loss": 2.0})
        >>> history.record_step(1, 0, {"loss": 1.0})
        >>> history.record_epoch({"epoch": 0, "loss": 1.5})
        >>> history.step_metric("loss").tolist(), history.epoch_metric("loss")
        ([2.0, 1.0], [1.5])
    """

    def __init__(self) -> None:
        self.steps: dict[str, list[RealNumber]] = {"step": [], "epoch": []}
        self.epochs: list[dict[str, RealNumber]] = []
        self.stop_reason: str | None = None

    def __repr__(self) -> str:
        last = self.epochs[-1] if self.epochs else {}
        shown = ", ".join(f"{key}={value:.4g}" for key, value in last.items())
        return f"History({len(self.epochs)} epochs, {self.num_steps} steps; last: {shown})"

    @property
    def num_steps(self) -> int:
        """How many training steps were recorded."""
        return len(self.steps["step"])

    def record_step(self, step: int, epoch: int, metrics: Mapping[str, RealNumber]) -> None:
        """Append one step's metrics."""
        self.steps["step"].append(step)
        self.steps["epoch"].append(epoch)
        for name, value in metrics.items():
            column = self.steps.setdefault(name, [math.nan] * (self.num_steps - 1))
            column.append(value)
        for column in self.steps.values():  # a metric this step lacks
            if len(column) < self.num_steps:
                column.append(math.nan)

    def record_epoch(self, logs: Mapping[str, RealNumber]) -> None:
        """Append one epoch's logs."""
        self.epochs.append(dict(logs))

    def step_metric(self, name: str) -> npt.NDArray[np.float64]:
        """One metric over every recorded step."""
        return np.asarray(self._column(self.steps, name), dtype=np.float64)

    def epoch_metric(self, name: str) -> list[RealNumber]:
        """One metric over the epochs (NaN where an epoch lacks it)."""
        if not any(name in logs for logs in self.epochs):
            raise KeyError(self._missing(name, sorted({k for e in self.epochs for k in e})))
        return [logs.get(name, math.nan) for logs in self.epochs]

    def epoch_means(self, epoch: int, since: int = 0) -> dict[str, RealNumber]:
        """The mean of every step metric over `epoch`'s steps from index `since` on.

        Steps whose `skipped` metric is 1 (their loss or gradients were not finite, so
        nothing was applied) are left out of the means; `skipped` itself is their count.
        """
        rows = [i for i in range(since, self.num_steps) if self.steps["epoch"][i] == epoch]
        if not rows:
            return {}
        flags = self.steps.get("skipped")
        applied = [i for i in rows if flags is None or not flags[i] >= 0.5] or rows
        means: dict[str, RealNumber] = {
            name: float(np.mean([column[i] for i in applied]))
            for name, column in self.steps.items()
            if name not in ("step", "epoch", "skipped")
        }
        if flags is not None:
            means["skipped"] = int(sum(1 for i in rows if flags[i] >= 0.5))
        return means

    def truncate(self, *, epochs: int, keep_steps_of: int | None = None) -> None:
        """Keep only the first `epochs` epochs and their steps (used when resuming), and
        the steps of epoch `keep_steps_of` too when given (an epoch cut short)."""
        del self.epochs[epochs:]
        last = epochs if keep_steps_of is None else keep_steps_of + 1
        keep = sum(1 for epoch in self.steps["epoch"] if epoch < last)
        for column in self.steps.values():
            del column[keep:]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (NaN becomes None)."""
        return {
            "steps": {name: _nan_to_none(column) for name, column in self.steps.items()},
            "epochs": [
                dict(zip(e, _nan_to_none(list(e.values())), strict=True)) for e in self.epochs
            ],
            "stop_reason": self.stop_reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "History":
        """Rebuild a History from `to_dict`'s output."""
        history = cls()
        history.steps = {name: _none_to_nan(column) for name, column in data["steps"].items()}
        history.epochs = [
            dict(zip(e, _none_to_nan(list(e.values())), strict=True)) for e in data["epochs"]
        ]
        history.stop_reason = data.get("stop_reason")
        return history

    def _column(self, table: Mapping[str, list[RealNumber]], name: str) -> list[RealNumber]:
        try:
            return table[name]
        except KeyError:
            raise KeyError(self._missing(name, sorted(table))) from None

    @staticmethod
    def _missing(name: str, available: Sequence[str]) -> str:
        return f"no metric {name!r} was recorded; recorded metrics: {list(available)}"


def _nan_to_none(values: list[RealNumber]) -> list[RealNumber | None]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]


def _none_to_nan(values: list[RealNumber | None]) -> list[RealNumber]:
    return [math.nan if v is None else v for v in values]
