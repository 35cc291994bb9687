"""A callback that writes the metrics of a fit to JSON lines and CSV files."""

import csv
import io
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, final

from .._atomic import write_atomic
from .._faults import fault_point
from .._sharding import is_primary_process
from ._callback import Callback
from ._history import History
from ._protocols import TrainingLoop


def _json_ready(values: Mapping[str, Any]) -> dict[str, Any]:
    # JSON has no NaN or infinity: write them as null.
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in values.items()
    }


def _line(record: Mapping[str, Any]) -> str:
    return json.dumps(_json_ready(record)) + "\n"


def _history_lines(history: History) -> Iterator[str]:
    """The lines a fit writes, rebuilt from its history: each step, and each epoch's record
    after the epoch's last step."""
    steps = history.steps
    names = [name for name in steps if name not in ("step", "epoch")]
    epochs = iter(history.epochs)
    pending = next(epochs, None)
    for row, (step, epoch) in enumerate(zip(steps["step"], steps["epoch"], strict=True)):
        while pending is not None and pending.get("epoch", math.inf) < epoch:
            yield _line({"kind": "epoch", **pending})
            pending = next(epochs, None)
        yield _line(
            {"kind": "step", "step": step, "epoch": epoch} | {n: steps[n][row] for n in names}
        )
    while pending is not None:
        yield _line({"kind": "epoch", **pending})
        pending = next(epochs, None)


@final
class MetricsLogger(Callback):
    """Writes every step's and epoch's metrics into a run folder.

    - `metrics.jsonl`: one JSON object per line, `{"kind": "step", "step": ..., "epoch":
      ..., "loss": ...}` for steps and `{"kind": "epoch", ...}` for epoch logs;
    - `epochs.csv`: one row per epoch, one column per metric.

    Lines are appended whole (one write per batch of lines) every `flush_every_steps` steps
    and at each epoch's end, when they are also synced to the disk; `epochs.csv` is
    replaced whole (written under a temporary name, then renamed). A crash loses at most
    the lines not yet written and can cut short only the last line, which
    `read_metrics_log` leaves out with a warning. A resumed fit rewrites `metrics.jsonl`
    from the history its checkpoint holds, so the file reads as one uninterrupted run
    whatever the crash left in it. With several processes only process 0 writes.

    Example:
        >>> from elbox.training import MetricsLogger
        >>> MetricsLogger("runs/example").jsonl_path.name
        'metrics.jsonl'
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, flush_every_steps: int = 100) -> None:
        self.run_dir = Path(run_dir)
        self.flush_every_steps = flush_every_steps
        self._fd: int | None = None
        self._buffer: list[str] = []
        self._epochs: list[dict[str, Any]] = []

    @property
    def jsonl_path(self) -> Path:
        """The JSON-lines file of step and epoch records."""
        return self.run_dir / "metrics.jsonl"

    @property
    def csv_path(self) -> Path:
        """The CSV file of epoch logs."""
        return self.run_dir / "epochs.csv"

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        if not is_primary_process():  # with several processes, process 0 writes the logs
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        history = trainer.history  # empty, or what a resume restored
        self._epochs = [_json_ready(logs) for logs in history.epochs]
        write_atomic(self.jsonl_path, "".join(_history_lines(history)))
        self._fd = os.open(self.jsonl_path, os.O_WRONLY | os.O_APPEND)
        self._buffer = []
        self._write_csv()

    def on_step_end(self, trainer: TrainingLoop, step: int, metrics: Mapping[str, float]) -> None:
        if self._fd is None:
            return
        self._buffer.append(
            _line({"kind": "step", "step": step, "epoch": trainer.epoch, **metrics})
        )
        if len(self._buffer) >= self.flush_every_steps:
            self._flush(sync=False)

    def on_epoch_end(self, trainer: TrainingLoop, epoch: int, logs: Mapping[str, float]) -> None:
        if self._fd is None:
            return
        record = _json_ready(logs)
        self._epochs.append(record)
        self._buffer.append(_line({"kind": "epoch", **record}))
        self._flush(sync=True)
        self._write_csv()

    def teardown(self, trainer: TrainingLoop) -> None:
        # Also after an error or an interruption: what was recorded reaches the file.
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self._append(fd, sync=True)
        finally:
            os.close(fd)

    def _flush(self, *, sync: bool) -> None:
        assert self._fd is not None
        self._append(self._fd, sync=sync)

    def _append(self, fd: int, *, sync: bool) -> None:
        data = "".join(self._buffer).encode()
        self._buffer = []
        try:
            if data:
                # A test hook: the process dies halfway through the last line.
                last = data.rstrip(b"\n").rfind(b"\n") + 1
                half = (last + len(data)) // 2
                fault_point("metrics-write", lambda: _write_all(fd, data[:half]))
                _write_all(fd, data)
            if sync:
                os.fsync(fd)
        except OSError as error:  # named by the file, which os.write does not say
            raise OSError(error.errno, error.strerror, str(self.jsonl_path)) from error

    def _write_csv(self) -> None:
        columns: list[str] = []
        for record in self._epochs:
            columns.extend(key for key in record if key != "kind" and key not in columns)
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self._epochs)
        write_atomic(self.csv_path, text.getvalue())


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data` (os.write may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
