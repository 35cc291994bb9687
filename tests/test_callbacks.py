"""Each callback: early stopping, checkpoints, the metrics logger and the progress display."""

import csv
import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from flax import nnx

from elbox import VAETrainingConfig, load_checkpoint
from elbox.data import batches
from elbox.training import (
    CheckpointConfig,
    CheckpointError,
    EarlyStopping,
    EarlyStoppingConfig,
    History,
    MetricsLogger,
    ModelCheckpoint,
    ProgressBar,
    Trainer,
)

from .helpers import (
    FRAMEWORKS,
    Framework,
    make_model_and_optimizer,
    make_trainer,
    params_of,
    patterns,
)

CONFIG = VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=20)


def _data(n: int = 64) -> npt.NDArray[Any]:
    return np.asarray(patterns(n), dtype=np.float32)


class StubTrainer:
    """A stand-in for the training loop, as callbacks see it (`TrainingLoop`); EarlyStopping
    uses its stop flag."""

    def __init__(self) -> None:
        self.engine: Any = None
        self.history = History()
        self.epoch = 0
        self.epochs = 1
        self.steps_per_epoch: int | None = None
        self.should_stop = False
        self.stop_reason: str | None = None
        self.resumed_from: tuple[int, int] | None = None

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.should_stop, self.stop_reason = True, reason

    def checkpoint_metadata(self, epoch: int) -> dict[str, Any]:
        return {"epoch": epoch}


def _run(
    stopper: EarlyStopping, values: list[float], name: str = "val_loss"
) -> tuple[int | None, str | None]:
    """Feed epoch values; return the epoch it stopped at and the reason."""
    trainer = StubTrainer()
    for epoch, value in enumerate(values):
        stopper.on_epoch_end(trainer, epoch, {name: value, "loss": 1.0})
        if trainer.stop_reason is not None:
            return epoch, trainer.stop_reason
    return None, None


# -- EarlyStopping -------------------------------------------------------------------------


def test_patience_counts_epochs_without_improvement() -> None:
    stopper = EarlyStopping(EarlyStoppingConfig(patience=2))
    epoch, reason = _run(stopper, [5.0, 4.0, 4.5, 4.2, 3.0])
    assert epoch == 3
    assert (
        reason
        == "EarlyStopping: val_loss did not improve for 2 epochs (best 4); stopped at epoch 3"
    )
    assert stopper.best == 4.0
    assert stopper.stopped_epoch == 3


def test_min_delta_demands_a_real_improvement() -> None:
    stopper = EarlyStopping(EarlyStoppingConfig(patience=1, min_delta=0.5))
    epoch, _ = _run(stopper, [5.0, 4.7])  # 0.3 better: not enough
    assert epoch == 1


def test_max_mode() -> None:
    stopper = EarlyStopping(EarlyStoppingConfig(monitor="acc", mode="max", patience=1))
    assert _run(stopper, [0.5, 0.6, 0.7], name="acc") == (None, None)
    stopper = EarlyStopping(EarlyStoppingConfig(monitor="acc", mode="max", patience=1))
    epoch, _ = _run(stopper, [0.5, 0.6, 0.55], name="acc")
    assert epoch == 2


def test_thresholds() -> None:
    stopper = EarlyStopping(EarlyStoppingConfig(patience=10, stopping_threshold=1.0))
    epoch, reason = _run(stopper, [3.0, 2.0, 0.9, 0.5])
    assert epoch == 2
    assert reason is not None
    assert "reached the stopping threshold 1.0 at epoch 2" in reason
    stopper = EarlyStopping(EarlyStoppingConfig(patience=10, divergence_threshold=10.0))
    epoch, reason = _run(stopper, [3.0, 9.0, 11.0])
    assert epoch == 2
    assert reason is not None
    assert "passed the divergence threshold 10.0 at epoch 2" in reason
    stopper = EarlyStopping(
        EarlyStoppingConfig(monitor="acc", mode="max", patience=10, stopping_threshold=0.9)
    )
    assert _run(stopper, [0.5, 0.95], name="acc")[0] == 1


def test_non_finite_value_stops_with_epoch_and_metric() -> None:
    stopper = EarlyStopping(EarlyStoppingConfig(patience=10))
    with pytest.warns(
        RuntimeWarning, match="training stopped: val_loss = nan is not finite at epoch 2"
    ):
        epoch, reason = _run(stopper, [3.0, 2.0, math.nan])
    assert epoch == 2
    assert reason == "EarlyStopping: val_loss = nan is not finite at epoch 2"
    stopper = EarlyStopping(EarlyStoppingConfig(patience=10, check_finite=False))
    assert _run(stopper, [3.0, math.inf, 2.0]) == (None, None)


def test_missing_monitor_warns_once_naming_the_metrics() -> None:
    stopper = EarlyStopping(EarlyStoppingConfig(monitor="val_loss", patience=0))
    trainer = StubTrainer()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for epoch in range(3):
            stopper.on_epoch_end(trainer, epoch, {"loss": 1.0, "kl_loss": 2.0})
    assert len(record) == 1
    assert str(record[0].message).startswith(
        "EarlyStopping monitors 'val_loss', which is not among the epoch's metrics "
        "['kl_loss', 'loss']"
    )
    assert trainer.stop_reason is None


def test_early_stopping_state_round_trip() -> None:
    stopper = EarlyStopping(EarlyStoppingConfig(patience=3))
    _run(stopper, [5.0, 4.0, 4.5])
    restored = EarlyStopping(EarlyStoppingConfig(patience=3))
    restored.load_state_dict(json.loads(json.dumps(stopper.state_dict())))
    assert restored.state_dict() == {"best": 4.0, "wait": 1, "stopped_epoch": None}


@pytest.mark.usefixtures("without_hook_checks")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patience": -1}, "patience must be >= 0; got -1"),
        ({"mode": "up"}, "mode must be one of 'min', 'max'; got 'up'"),
        ({"min_delta": -0.1}, "min_delta must be a finite number >= 0; got -0.1"),
        ({"monitor": ""}, "monitor must be a metric name; got ''"),
        ({"stopping_threshold": math.nan}, "stopping_threshold must be a number; got nan"),
    ],
)
def test_bad_early_stopping_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EarlyStoppingConfig(**kwargs)


def test_early_stopping_in_a_fit() -> None:
    vae = make_trainer("equinox", CONFIG, learning_rate=1e-2)
    stopper = EarlyStopping(EarlyStoppingConfig(monitor="loss", patience=0, min_delta=1e9))
    history = Trainer(vae, callbacks=[stopper]).fit(batches(_data(), 16), epochs=10)
    # Epoch 0 sets the best; no later epoch improves by 1e9, so epoch 1 stops.
    assert len(history.epochs) == 2
    assert history.stop_reason is not None
    assert history.stop_reason.startswith("EarlyStopping: loss did not improve for 1 epochs")


def test_non_finite_loss_stops_a_fit() -> None:
    vae = make_trainer("equinox", VAETrainingConfig(kl_annealing="none"), learning_rate=1e6)
    stopper = EarlyStopping(EarlyStoppingConfig(monitor="loss", patience=100))
    with pytest.warns(
        RuntimeWarning, match=r"training stopped: loss = (nan|inf) is not finite at epoch \d"
    ):
        history = Trainer(vae, callbacks=[stopper]).fit(batches(_data(), 16), epochs=50)
    assert len(history.epochs) < 50
    assert history.stop_reason is not None
    assert "is not finite at epoch" in history.stop_reason


# -- ModelCheckpoint and load_checkpoint -------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_checkpoint_round_trip(framework: Framework, tmp_path: Path) -> None:
    vae = make_trainer(framework, CONFIG)
    checkpoint = ModelCheckpoint(CheckpointConfig(dirpath=tmp_path / "ckpt", monitor="val_loss"))
    history = Trainer(vae, callbacks=[checkpoint]).fit(
        batches(_data(), 16), epochs=3, val_data=[_data(32)]
    )
    model, optimizer = make_model_and_optimizer(framework, seed=123)
    loaded = load_checkpoint(tmp_path / "ckpt", model, optimizer, which="latest")
    assert loaded.step == 12
    assert loaded.epoch == 2
    assert loaded.metadata["config"] == CONFIG.to_dict()
    for a, b in zip(params_of(loaded.model), params_of(vae.model), strict=True):
        np.testing.assert_array_equal(a, b)
    if framework == "nnx":  # restored in place into the objects passed in
        assert loaded.model is model
        assert loaded.opt_state is optimizer
        assert isinstance(optimizer, nnx.Optimizer)
        assert int(optimizer.step[...]) == 12
    best = load_checkpoint(tmp_path / "ckpt", model, optimizer, which="best")
    val_losses = history.epoch_metric("val_loss")
    assert best.epoch == int(np.argmin(val_losses))


def test_checkpoint_folder_that_cannot_be_written_fails_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    vae = make_trainer("equinox")
    checkpoint = ModelCheckpoint(CheckpointConfig(dirpath=blocker / "ckpt"))
    with pytest.raises(CheckpointError, match=str(blocker / "ckpt")):
        Trainer(vae, callbacks=[checkpoint]).fit(batches(_data(), 16), epochs=1)
    assert vae.step == 0


def test_monitored_metric_missing_warns_once(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(CheckpointConfig(dirpath=tmp_path, monitor="val_loss"))
    with pytest.warns(UserWarning, match="ModelCheckpoint monitors 'val_loss'") as record:
        Trainer(make_trainer("equinox"), callbacks=[checkpoint]).fit(batches(_data(), 16), epochs=3)
    assert len([w for w in record if "ModelCheckpoint" in str(w.message)]) == 1


@pytest.mark.usefixtures("without_hook_checks")
def test_bad_checkpoint_config() -> None:
    with pytest.raises(ValueError, match="every_n_epochs must be >= 1; got 0"):
        CheckpointConfig(every_n_epochs=0)
    with pytest.raises(ValueError, match="save_top_k must be >= 1; got 0"):
        CheckpointConfig(save_top_k=0)


def test_every_n_epochs(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(
        CheckpointConfig(dirpath=tmp_path, every_n_epochs=2, keep_latest=10)
    )
    Trainer(make_trainer("equinox"), callbacks=[checkpoint]).fit(batches(_data(), 16), epochs=5)
    with checkpoint.store as store:
        # After epochs 2 and 4 (steps 8 and 16), and after the last epoch (step 20).
        assert store.steps() == [8, 16, 20]


# -- MetricsLogger ---------------------------------------------------------------------------


def test_metrics_logger_files(tmp_path: Path) -> None:
    logger = MetricsLogger(tmp_path / "run", flush_every_steps=3)
    history = Trainer(make_trainer("equinox", CONFIG), callbacks=[logger]).fit(
        batches(_data(), 16), epochs=2, val_data=[_data(16)]
    )
    records = [json.loads(line) for line in logger.jsonl_path.read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["step"] for r in steps] == list(range(8))
    assert [r["loss"] for r in steps] == pytest.approx(list(history.step_metric("loss")))
    assert [r["epoch"] for r in epochs] == [0, 1]
    assert epochs[1]["val_neg_elbo"] == pytest.approx(history.epochs[1]["val_neg_elbo"])
    with logger.csv_path.open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2
    assert float(rows[0]["loss"]) == pytest.approx(history.epochs[0]["loss"])
    assert "val_loss" in rows[0]


# -- ProgressBar -------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream=stream, print_every_seconds=0.0)
    Trainer(make_trainer("equinox", CONFIG), callbacks=[bar]).fit(batches(_data(), 16), epochs=2)
    lines = stream.getvalue().splitlines()
    step_lines = [line for line in lines if " step " in line]
    summaries = [
        line for line in lines if line.startswith("epoch ") and "):" not in line and ": " in line
    ]
    assert len(step_lines) >= 6  # printed every step with a zero interval (metrics lag a little)
    assert step_lines[0].startswith("epoch 1/2 step 0 loss=")
    assert all(key in step_lines[0] for key in ("recon=", "kl=", "kl_w=", "steps/s"))
    assert [line.split(":")[0] for line in summaries] == ["epoch 1/2", "epoch 2/2"]


def test_progress_bar_on_a_terminal() -> None:
    stream = FakeTerminal()
    bar = ProgressBar(stream=stream)
    Trainer(make_trainer("equinox", CONFIG), callbacks=[bar]).fit(batches(_data(), 16), epochs=1)
    output = stream.getvalue()
    assert "epoch 1/1" in output
    assert "0/4" in output  # tqdm's counter, the steps of the epoch known from len()
    assert "\r" in output  # redrawn in place
