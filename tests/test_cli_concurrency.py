"""One writer per run folder: a second `elbox train` into a busy folder is refused at once,
and a SIGKILLed run's folder is taken over by the `--resume` that continues it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from elbox.training import CheckpointStore

# Several `elbox train` processes, one stopped, one killed with SIGKILL: processes are the point.
pytestmark = pytest.mark.process

TINY = ["--hidden", "32", "--latent", "4"]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}


def _train(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "elbox.cli", "train", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def _wait_until(condition: object, what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 600
    while not (callable(condition) and condition()):
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"the run ended before {what}: {err[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _holds_lock(run: Path, pid: int) -> bool:
    lock = run / ".elbox-run.lock"
    return lock.exists() and lock.read_text().strip() == str(pid)


def _steps(run: Path) -> list[int]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r["step"] for r in map(json.loads, lines) if r["kind"] == "step"]


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = _train(*TINY, "--epochs", "3", "--output", str(run), cwd=tmp_path)
    try:
        _wait_until(lambda: _holds_lock(run, first.pid), "the first run locked", first)
        # Paused while it holds the folder, so that the second run surely meets it there.
        first.send_signal(signal.SIGSTOP)
        # Two more, at once: a plain run, and one that would replace the folder's run.
        intruders = [
            _train(*TINY, "--output", str(run), cwd=tmp_path),
            _train("--output", str(run), "--overwrite", cwd=tmp_path),
        ]
        refusals = [intruder.communicate(timeout=600) for intruder in intruders]
    finally:
        first.send_signal(signal.SIGCONT)
    message = (
        f"elbox train: error: --output {run} is in use by another elbox process "
        f"(pid {first.pid}): wait for it to finish, or choose another --output"
    )
    for intruder, (_, err) in zip(intruders, refusals, strict=True):
        assert intruder.returncode == 2  # --overwrite does not delete a folder in use either
        assert err.splitlines() == [message]
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert "for 3 epochs (60 steps)" in out
    assert _steps(run) == list(range(60))  # the first run finished untouched


def test_a_killed_runs_folder_is_taken_over_by_its_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    killed = _train(*TINY, "--epochs", "1000", "--output", str(run), cwd=tmp_path)
    try:
        _wait_until(
            lambda: any(p.name.isdigit() for p in (run / "checkpoints").glob("*")),
            "a checkpoint",
            killed,
        )
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=60)
    finally:
        if killed.poll() is None:
            killed.kill()
    assert _holds_lock(run, killed.pid)  # the file still names it; the kernel let the lock go
    with CheckpointStore(run / "checkpoints") as store:
        latest = store.latest_step()
    assert latest is not None
    epochs = latest // 20 + 1  # one epoch more than the checkpoint holds
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "elbox.cli",
            "train",
            *TINY,
            "--epochs",
            str(epochs),
            "--output",
            str(run),
            "--resume",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=ENV,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"for {epochs} epochs ({20 * epochs} steps)" in resumed.stdout
    assert _steps(run) == list(range(20 * epochs))  # one run, read as if never interrupted
