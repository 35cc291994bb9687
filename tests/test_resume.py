"""Exact resume: a run killed with SIGKILL and resumed equals an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
import numpy.typing as npt
import pytest

from elbox.training import MetricsLogger

from .helpers import FRAMEWORKS, Framework, params_of
from .resume_worker import build, data

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 5


def _uninterrupted(framework: Framework, tmp_path: Path) -> list[npt.NDArray[Any]]:
    trainer = build(framework, tmp_path / "uninterrupted")
    trainer.fit(data(), epochs=EPOCHS)
    return params_of(trainer.engine.model)


@pytest.mark.process  # a run killed with SIGKILL
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_sigkill_then_resume_equals_an_uninterrupted_run(
    framework: Framework, tmp_path: Path
) -> None:
    directory = tmp_path / "killed"
    # 6 steps per epoch: step 15 is in the middle of the third epoch.
    worker = subprocess.run(
        [sys.executable, "-m", "tests.resume_worker", framework, str(directory), str(EPOCHS), "15"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")},
    )
    assert worker.returncode == -signal.SIGKILL, worker.stderr[-2000:]
    logger = MetricsLogger(tmp_path / "log")
    resumed = build(framework, directory, logger)
    history = resumed.fit(data(), epochs=EPOCHS, resume=True)
    assert resumed.resumed_from is not None
    resumed_epoch, resumed_step = resumed.resumed_from
    assert 1 <= resumed_epoch <= 2  # the checkpoint after epoch 2 or 3, whichever was complete
    assert resumed_step == 6 * (resumed_epoch + 1)
    assert len(history.epochs) == EPOCHS
    assert history.num_steps == 6 * EPOCHS
    for got, want in zip(
        params_of(resumed.engine.model), _uninterrupted(framework, tmp_path), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.process
def test_sigkill_then_resume_keeps_batch_statistics_and_average_bit_for_bit(
    tmp_path: Path,
) -> None:
    # The stateful BatchNorm VAE with an average of its weights: its running statistics
    # (TrainState.model_state) and the average (ema_params) resume exactly.
    directory = tmp_path / "killed"
    worker = subprocess.run(
        [sys.executable, "-m", "tests.resume_worker", "equinox-bn", str(directory), "5", "15"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")},
    )
    assert worker.returncode == -signal.SIGKILL, worker.stderr[-2000:]
    resumed = build("equinox-bn", directory)
    resumed.fit(data(), epochs=EPOCHS, resume=True)
    assert resumed.resumed_from is not None
    uninterrupted = build("equinox-bn", tmp_path / "uninterrupted")
    uninterrupted.fit(data(), epochs=EPOCHS)
    got, want = resumed.engine.state, uninterrupted.engine.state
    for part in ("params", "opt_state", "model_state", "ema_params"):
        got_leaves, want_leaves = (
            jax.tree.leaves(getattr(got, part)),
            jax.tree.leaves(getattr(want, part)),
        )
        assert len(got_leaves) == len(want_leaves) > 0
        for a, b in zip(got_leaves, want_leaves, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    counters = [int(c) for c in jax.tree.leaves(got.model_state) if c.dtype == np.int32]
    assert counters == [6 * EPOCHS, 6 * EPOCHS]  # each BatchNorm saw every step


def test_damaged_latest_checkpoint_falls_back_with_a_warning(tmp_path: Path) -> None:
    directory = tmp_path / "ckpt"
    build("equinox", directory).fit(data(), epochs=3)
    latest = max(int(p.name) for p in directory.iterdir() if p.name.isdigit())
    assert latest == 18
    for file in (directory / str(latest)).rglob("*"):
        if file.is_file():
            file.write_bytes(file.read_bytes()[: len(file.read_bytes()) // 3])  # truncated
    resumed = build("equinox", directory)
    with pytest.warns(RuntimeWarning, match="step 18"):
        resumed.fit(data(), epochs=EPOCHS, resume=True)
    assert resumed.resumed_from == (1, 12)
    for got, want in zip(
        params_of(resumed.engine.model), _uninterrupted("equinox", tmp_path), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_resume_without_checkpoints_starts_from_scratch(tmp_path: Path) -> None:
    trainer = build("equinox", tmp_path / "empty")
    with pytest.warns(UserWarning, match="holds no checkpoint yet; training starts from scratch"):
        history = trainer.fit(data(), epochs=1, resume=True)
    assert history.num_steps == 6


def test_resume_needs_a_checkpoint_callback() -> None:
    from elbox.training import Trainer

    from .helpers import make_trainer

    with pytest.raises(ValueError, match="fit\\(resume=True\\) needs a ModelCheckpoint callback"):
        Trainer(make_trainer("equinox")).fit(data(), epochs=1, resume=True)


def test_resumed_metrics_log_has_no_duplicates(tmp_path: Path) -> None:
    directory, run = tmp_path / "ckpt", tmp_path / "run"
    build("equinox", directory, MetricsLogger(run)).fit(data(), epochs=2)
    # Pretend the process died after writing more lines than its last checkpoint holds.
    with (run / "metrics.jsonl").open("a") as file:
        file.write(json.dumps({"kind": "step", "step": 12, "epoch": 2, "loss": 1.0}) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build("equinox", directory, MetricsLogger(run)).fit(data(), epochs=3, resume=True)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "step"] == list(range(18))
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [0, 1, 2]
