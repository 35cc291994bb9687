"""Early stopping on a monitored epoch metric."""

import dataclasses
import math
import warnings
from collections.abc import Mapping
from typing import Any, Literal, final, no_type_check

from .._validation import checked_choice, checked_int, checked_non_negative_float, checked_real
from ._callback import Callback
from ._monitor import MonitorWarner
from ._protocols import TrainingLoop

Mode = Literal["min", "max"]
"""Which values of a monitored metric are better: lower (`"min"`) or higher (`"max"`)."""


# `__post_init__` validates the fields with ValueErrors that name them; `no_type_check` keeps
# the test suite's jaxtyping import hook from pre-empting those messages.
@no_type_check
@dataclasses.dataclass(frozen=True)
class EarlyStoppingConfig:
    """When `EarlyStopping` stops training.

    Attributes:
        monitor: the epoch metric to watch, e.g. `"val_loss"` or `"val_neg_elbo"`.
        min_delta: the least change that counts as an improvement.
        patience: epochs without improvement before stopping.
        mode: `"min"` when lower is better, `"max"` when higher is.
        check_finite: stop as soon as the metric is NaN or infinite.
        stopping_threshold: stop once the metric is better than this.
        divergence_threshold: stop once the metric is worse than this.

    Example:
        >>> from elbox.training import EarlyStoppingConfig
        >>> EarlyStoppingConfig(monitor="val_loss", patience=10).mode
        'min'
    """

    monitor: str = "val_loss"
    min_delta: float = 0.0
    patience: int = 3
    mode: Mode = "min"
    check_finite: bool = True
    stopping_threshold: float | None = None
    divergence_threshold: float | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.monitor, str) or not self.monitor:
            raise ValueError(f"{owner}.monitor must be a metric name; got {self.monitor!r}")
        checked_choice(owner, "mode", self.mode, ("min", "max"))
        object.__setattr__(self, "patience", checked_int(owner, "patience", self.patience, 0))
        delta = checked_non_negative_float(owner, "min_delta", self.min_delta)
        object.__setattr__(self, "min_delta", delta)
        for name in ("stopping_threshold", "divergence_threshold"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, checked_real(owner, name, getattr(self, name)))


@final
class EarlyStopping(Callback):
    """Stops training when the monitored metric stops improving.

    After each epoch: a non-finite value stops at once (with `check_finite`), as does a
    value past `stopping_threshold` or `divergence_threshold`; otherwise an improvement of
    more than `min_delta` resets the patience counter and anything else counts one epoch
    against `patience`.

    Example:
        >>> from elbox.training import EarlyStopping, EarlyStoppingConfig
        >>> config = EarlyStoppingConfig(monitor="val_loss", patience=10)
        >>> stopper = EarlyStopping(config)
        >>> stopper.best is None
        True
    """

    def __init__(self, config: EarlyStoppingConfig | None = None) -> None:
        self.config = EarlyStoppingConfig() if config is None else config
        self.best: float | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._monitor = MonitorWarner("EarlyStopping", self.config.monitor)

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.config.mode == "min" else a > b

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        delta = self.config.min_delta
        return self._better(
            value, self.best - delta if self.config.mode == "min" else self.best + delta
        )

    def on_epoch_end(self, trainer: TrainingLoop, epoch: int, logs: Mapping[str, float]) -> None:
        value = self._monitor.value(logs)
        if value is None:
            return
        name = self.config.monitor
        stopping, divergence = self.config.stopping_threshold, self.config.divergence_threshold
        reason: str | None = None
        if self.config.check_finite and not math.isfinite(value):
            reason = f"{name} = {value} is not finite at epoch {epoch}"
            warnings.warn(f"training stopped: {reason}", RuntimeWarning, stacklevel=2)
        elif stopping is not None and self._better(value, stopping):
            reason = (
                f"{name} = {value:.6g} reached the stopping threshold {stopping} at epoch {epoch}"
            )
        elif divergence is not None and self._better(divergence, value):
            reason = (
                f"{name} = {value:.6g} passed the divergence threshold {divergence} "
                f"at epoch {epoch}"
            )
        elif self._improved(value):
            self.best, self.wait = value, 0
        else:
            self.wait += 1
            if self.wait >= self.config.patience:
                reason = (
                    f"{name} did not improve for {self.wait} epochs (best {self.best:.6g}); "
                    f"stopped at epoch {epoch}"
                )
        if reason is not None:
            self.stopped_epoch = epoch
            trainer.request_stop(f"EarlyStopping: {reason}")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = state["best"]
        self.wait = state["wait"]
        self.stopped_epoch = state["stopped_epoch"]
