"""A callback that writes the metrics of a fit to JSON lines and CSV files."""

import csv
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, final

from .._sharding import is_primary_process
from ._callback import Callback
from ._protocols import TrainingLoop


def _json_ready(values: Mapping[str, Any]) -> dict[str, Any]:
    # JSON has no NaN or infinity: write them as null.
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in values.items()
    }


@final
class MetricsLogger(Callback):
    """Writes every step's and epoch's metrics into a run folder.

    - `metrics.jsonl`: one JSON object per line, `{"kind": "step", "step": ..., "epoch":
      ..., "loss": ...}` for steps and `{"kind": "epoch", ...}` for epoch logs;
    - `epochs.csv`: one row per epoch, one column per metric.

    Lines are flushed every `flush_every_steps` steps and at each epoch's end, so a crash
    loses little. A resumed fit first drops the lines written after its checkpoint, so the
    files read as one uninterrupted run. With several processes only process 0 writes.

    Example:
        >>> from elbox.training import MetricsLogger
        >>> MetricsLogger("runs/example").jsonl_path.name
        'metrics.jsonl'
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, flush_every_steps: int = 100) -> None:
        self.run_dir = Path(run_dir)
        self.flush_every_steps = flush_every_steps
        self._file: IO[str] | None = None
        self._unflushed = 0
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
        kept: list[str] = []
        self._epochs = []
        if trainer.resumed_from is not None and self.jsonl_path.exists():
            epoch, step = trainer.resumed_from
            for line in self.jsonl_path.read_text().splitlines():
                if not line.strip():
                    continue
                record = json.loads(line)
                keep = (
                    record["step"] < step if record["kind"] == "step" else record["epoch"] <= epoch
                )
                if keep:
                    kept.append(line)
                    if record["kind"] == "epoch":
                        self._epochs.append(record)
        self._file = self.jsonl_path.open("w")
        self._file.writelines(line + "\n" for line in kept)
        self._file.flush()
        self._write_csv()

    def on_step_end(self, trainer: TrainingLoop, step: int, metrics: Mapping[str, float]) -> None:
        if self._file is None:
            return
        record = {"kind": "step", "step": step, "epoch": trainer.epoch, **metrics}
        self._file.write(json.dumps(_json_ready(record)) + "\n")
        self._unflushed += 1
        if self._unflushed >= self.flush_every_steps:
            self._file.flush()
            self._unflushed = 0

    def on_epoch_end(self, trainer: TrainingLoop, epoch: int, logs: Mapping[str, float]) -> None:
        if self._file is None:
            return
        record = _json_ready({"kind": "epoch", **logs})
        self._epochs.append(record)
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self._unflushed = 0
        self._write_csv()

    def teardown(self, trainer: TrainingLoop) -> None:
        # Also after an error: what was written so far reaches the disk.
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write_csv(self) -> None:
        columns: list[str] = []
        for record in self._epochs:
            columns.extend(key for key in record if key != "kind" and key not in columns)
        temporary = self.csv_path.with_suffix(".csv.tmp")
        with temporary.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self._epochs)
        temporary.replace(self.csv_path)  # atomic: a crash never leaves half a CSV
