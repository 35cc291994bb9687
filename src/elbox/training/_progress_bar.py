"""A progress display: a tqdm bar on a terminal, plain periodic lines elsewhere."""

import sys
import time
from collections.abc import Mapping
from typing import Any, Protocol, final, runtime_checkable

from tqdm import tqdm

from .._custom_types import RealNumber
from .._sharding import is_primary_process
from ._callback import Callback
from ._protocols import TrainingLoop


@runtime_checkable
class TextStream(Protocol):
    """Where the progress goes: a text stream such as `sys.stderr` or `io.StringIO`."""

    def write(self, text: str, /) -> int:
        """Write `text`; the number of characters written."""
        ...

    def flush(self) -> None:
        """Write out what is buffered."""
        ...

    def isatty(self) -> bool:
        """Whether the stream is a terminal (then the progress is a tqdm bar)."""
        ...


_SHOWN = (("loss", "loss"), ("recon_loss", "recon"), ("kl_loss", "kl"), ("kl_weight", "kl_w"))


def _describe(metrics: Mapping[str, float], skipped: RealNumber = 0) -> str:
    shown = " ".join(f"{label}={metrics[name]:.4g}" for name, label in _SHOWN if name in metrics)
    # Steps whose loss or gradients were not finite, left unapplied: shown once there are any.
    return f"{shown} skipped={int(skipped)}" if skipped else shown


@final
class ProgressBar(Callback):
    """Shows the epoch, step, loss, reconstruction, KL, KL weight and steps per second.

    Once a step of the epoch has been skipped (its loss or gradients were not finite), the
    lines also show how many: `skipped=N`.

    On a terminal it draws a tqdm bar per epoch; when the output is not a terminal (a log
    file, CI) it prints a plain line every `print_every_seconds` instead. Each epoch ends
    with a summary line, and a stop prints its reason.

    Args:
        stream: where to write (default: standard error).
        print_every_seconds: the interval of the plain lines.
        force_plain: plain lines even on a terminal.
    """

    def __init__(
        self,
        *,
        stream: TextStream | None = None,
        print_every_seconds: float = 10.0,
        force_plain: bool = False,
    ) -> None:
        self.stream: TextStream = sys.stderr if stream is None else stream
        self.print_every_seconds = print_every_seconds
        self.force_plain = force_plain
        self._bar: tqdm[Any] | None = None
        self._last_print = 0.0
        self._epoch_start = 0.0
        self._epoch_steps = 0
        self._epoch_skipped = 0
        self._silent = False

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        self._silent = not is_primary_process()  # with several processes, only process 0

    @property
    def plain(self) -> bool:
        """Whether output is plain lines (not a terminal, or forced)."""
        return self.force_plain or not self.stream.isatty()

    def _write(self, line: str) -> None:
        if self._silent:
            return
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def on_epoch_start(self, trainer: TrainingLoop, epoch: int) -> None:
        self._epoch_start = self._last_print = time.perf_counter()
        self._epoch_steps = 0
        self._epoch_skipped = 0
        if not self.plain and not self._silent:
            self._bar = tqdm(
                total=trainer.steps_per_epoch,
                desc=f"epoch {epoch + 1}/{trainer.epochs}",
                unit="step",
                file=self.stream,
                leave=False,
                dynamic_ncols=True,
            )

    def on_step_end(self, trainer: TrainingLoop, step: int, metrics: Mapping[str, float]) -> None:
        self._epoch_steps += 1
        self._epoch_skipped += int(metrics.get("skipped", 0.0) >= 0.5)
        now = time.perf_counter()
        if self._bar is not None:
            self._bar.update(1)
            if now - self._last_print > 0.5:
                self._bar.set_postfix_str(_describe(metrics, self._epoch_skipped), refresh=False)
                self._last_print = now
        elif now - self._last_print >= self.print_every_seconds:
            rate = self._epoch_steps / max(now - self._epoch_start, 1e-9)
            self._write(
                f"epoch {trainer.epoch + 1}/{trainer.epochs} step {step} "
                f"{_describe(metrics, self._epoch_skipped)} {rate:.1f} steps/s"
            )
            self._last_print = now

    def on_epoch_end(self, trainer: TrainingLoop, epoch: int, logs: Mapping[str, float]) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        validation = " ".join(
            f"{name}={value:.4g}" for name, value in logs.items() if name.startswith("val_")
        )
        self._write(
            f"epoch {epoch + 1}/{trainer.epochs}: {_describe(logs, logs.get('skipped', 0))} "
            f"{validation} "
            f"({logs['seconds']:.1f} s, {logs['steps_per_second']:.1f} steps/s)".replace("  ", " ")
        )

    def on_fit_end(self, trainer: TrainingLoop) -> None:
        if trainer.stop_reason is not None:
            self._write(f"stopped: {trainer.stop_reason}")

    def teardown(self, trainer: TrainingLoop) -> None:
        # An epoch cut short (an error, an interruption) leaves its bar open: close it.
        if self._bar is not None:
            self._bar.close()
            self._bar = None
