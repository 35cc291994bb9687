"""Faults injected into real `elbox train` processes at the moments that hurt most, each
followed by `--resume`, which must end with the numbers of an uninterrupted run.

The moments are injected, not hoped for: `ELBOX_FAULT=POINT:ACTION[@N]` makes the process
signal itself the N-th time it reaches POINT (see `elbox._faults`): inside a checkpoint
save (orbax's temporary folder exists), halfway through a line of metrics.jsonl, between
a file's writing and its rename, after a step, after training. One run folder goes
through every fault in turn, so the suite starts few processes; a full disk is a real
tmpfs where the machine lets root mount one, an injected ENOSPC otherwise.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from elbox.cli._load_run import load_run
from elbox.training import CheckpointStore

pytestmark = pytest.mark.process

# Three epochs of 20 steps on the digits: checkpoints after steps 20, 40 and 60.
RUN = ["--hidden", "8", "--latent", "2", "--epochs", "3", "--eval-samples", "4"]
ELBOX = Path(sys.executable).with_name("elbox")  # the installed script (signals held early)
TIMING = ("seconds", "steps_per_second")


def _env(fault: str | None = None) -> dict[str, str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("ELBOX_FAULT", None)
    if fault is not None:
        env["ELBOX_FAULT"] = fault
    return env


def _train(run: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ELBOX), "train", *args, "--output", str(run)],
        capture_output=True,
        text=True,
        timeout=900,
        env=_env(fault),
    )


def _messages(stderr: str) -> list[str]:
    """stderr without the progress lines: what the command said."""
    return [line for line in stderr.splitlines() if not line.startswith("epoch ")]


def _records(run: Path) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def _latest_state(run: Path) -> tuple[int, list[np.ndarray[Any, Any]]]:
    """The step and arrays of the run's latest checkpoint."""
    loaded = load_run(run)
    with CheckpointStore(run / "checkpoints") as store:
        state, _, step = store.restore(loaded.vae.state, which="latest")
    leaves = [
        jax.random.key_data(leaf) if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf
        for leaf in jax.tree.leaves(state)
    ]
    return step, [np.asarray(leaf) for leaf in leaves]


def _leftovers(run: Path) -> list[str]:
    """Temporary files and folders and lock files left in the run folder."""
    names = [".elbox-run.lock", ".elbox-checkpoints.lock"]
    return sorted(
        str(path.relative_to(run))
        for path in run.rglob("*")
        if "orbax-checkpoint-tmp" in path.name or ".tmp-" in path.name or path.name in names
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted run, which every interrupted one must end up equal to."""
    run = tmp_path_factory.mktemp("reference") / "run"
    result = _train(run, *RUN)
    assert result.returncode == 0, result.stderr[-3000:]
    return run


@contextlib.contextmanager
def _small_disk(folder: Path) -> Iterator[bool]:
    """A 64 MiB tmpfs mounted at `folder` (True), or just the folder where this machine
    does not let us mount one (False: the full disk is then an injected ENOSPC)."""
    folder.mkdir()
    mounted = False
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount"):
        mounted = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill_when_stopped(process: subprocess.Popen[str], disk: Path) -> Path:
    """Wait until `process` stops itself (SIGSTOP inside a checkpoint save), fill the disk,
    and let it go on; the ballast file's path."""
    deadline = time.monotonic() + 600
    while Path(f"/proc/{process.pid}/stat").read_text().split(") ")[1][0] != "T":
        assert process.poll() is None, "the run ended before the checkpoint save"
        assert time.monotonic() < deadline, "the run never reached the checkpoint save"
        time.sleep(0.05)
    ballast = disk / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 20, 4096, 1):  # until not one more byte fits
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    process.send_signal(signal.SIGCONT)
    return ballast


def test_every_fault_then_resume_equals_an_uninterrupted_run(
    reference: Path, tmp_path: Path
) -> None:
    with _small_disk(tmp_path / "disk") as mounted:
        run = tmp_path / "disk" / "run"
        # 1. Killed (SIGKILL) at step 10, before any checkpoint: the resume starts over.
        killed = _train(run, *RUN, fault="step:SIGKILL@10")
        assert killed.returncode == -signal.SIGKILL
        assert not (run / "checkpoints" / "20").exists()

        # 2. Ctrl-C inside the first checkpoint save: the save completes, nothing is left
        # half-made, one line, exit 130.
        result = _train(run, "--resume", fault="checkpoint-save:SIGINT@1")
        assert result.returncode == 130, result.stderr[-3000:]
        assert _messages(result.stderr)[-1] == (
            f"elbox train: interrupted by SIGINT: stopped after 20 of 60 steps, all saved in "
            f"{run / 'checkpoints'}; continue with: elbox train --output {run} --resume"
        )
        assert "Traceback" not in result.stderr
        assert _leftovers(run) == []
        assert (run / "checkpoints" / "20").is_dir()

        # 3. Killed halfway through a line of metrics.jsonl (at epoch 2's end): its last line
        # is torn, and the resume is not blocked by it.
        result = _train(run, "--resume", fault="metrics-write:SIGKILL@1")
        assert result.returncode == -signal.SIGKILL
        assert not (run / "metrics.jsonl").read_text().endswith("\n")

        # 4. SIGTERM after a step mid-epoch: the step is saved, exit 143.
        result = _train(run, "--resume", fault="step:SIGTERM@15")
        assert result.returncode == 143, result.stderr[-3000:]
        assert _leftovers(run) == []
        with CheckpointStore(run / "checkpoints") as store:
            steps = store.steps()
        saved = max(steps)
        assert 34 <= saved < 40  # mid-epoch: epoch 2 ends at step 40
        assert f"stopped after {saved} of 60 steps" in _messages(result.stderr)[-1]

        # 5. The disk fills up inside the checkpoint save of step 40.
        fault = "checkpoint-save:SIGSTOP@1" if mounted else "checkpoint-save:ENOSPC@1"
        process = subprocess.Popen(
            [str(ELBOX), "train", "--output", str(run), "--resume"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(fault),
        )
        try:
            ballast = _fill_when_stopped(process, tmp_path / "disk") if mounted else None
            _, err = process.communicate(timeout=900)
        finally:
            if process.poll() is None:  # the test failed: leave no stopped process behind
                process.kill()
                process.communicate()
        assert process.returncode == 1, err[-3000:]
        # One line: the reports of tensorstore's writes that end after the failed save
        # (`Event loop is closed`) are dropped (training/_checkpoint/_errors.py).
        assert _messages(err) == [
            f"elbox train: error: could not save the checkpoint of step 40 in "
            f"{run / 'checkpoints'}: No space left on device; the checkpoints saved before "
            "are kept; free some space (or choose a folder you can write to) and run the "
            "command again: `elbox train --resume` continues a run from its last checkpoint"
        ]
        # Nothing left: the temporary folder is removed once every write of the save ended.
        assert _leftovers(run) == []
        with CheckpointStore(run / "checkpoints") as store:
            assert max(store.steps()) == saved  # the earlier checkpoints, intact
        if ballast is not None:
            ballast.unlink()

        # 6. Killed between writing epochs.csv and renaming it: a temporary file is left,
        # which the next run removes.
        result = _train(run, "--resume", fault="atomic-rename:SIGKILL@2")
        assert result.returncode == -signal.SIGKILL
        assert any(".tmp-" in name for name in _leftovers(run))

        # 7. SIGTERM after training, before the evaluation: the checkpoints are all there.
        result = _train(run, "--resume", fault="evaluation:SIGTERM")
        assert result.returncode == 143, result.stderr[-3000:]
        assert _messages(result.stderr)[-1].startswith(
            "elbox train: interrupted by SIGTERM: after training, whose checkpoints are saved"
        )

        # 8. The last resume writes the evaluation, plots and summary.
        result = _train(run, "--resume")
        assert result.returncode == 0, result.stderr[-3000:]
        assert _leftovers(run) == []
        assert _records(run) == _records(reference)
        (step, arrays), (reference_step, expected) = _latest_state(run), _latest_state(reference)
        assert step == reference_step == 60
        assert all(np.array_equal(a, b) for a, b in zip(arrays, expected, strict=True))
        summaries = [json.loads((r / "summary.json").read_text()) for r in (run, reference)]
        assert summaries[0]["test"] == summaries[1]["test"]
        assert summaries[0]["best_epoch"] == summaries[1]["best_epoch"]


def test_a_signal_while_starting_ends_with_one_line(tmp_path: Path) -> None:
    # While JAX is imported (the issue: a segmentation fault, or an ImportError's
    # traceback, or a KeyboardInterrupt swallowed and the run trained on).
    run = tmp_path / "run"
    process = subprocess.Popen(
        [str(ELBOX), "train", *RUN, "--output", str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 130
    assert err.splitlines()[0].startswith("elbox train: interrupted by SIGINT")
    assert len(err.splitlines()) == 1
    assert not run.exists()


def test_a_finished_run_leaves_no_lock_or_temporary_file(reference: Path) -> None:
    assert _leftovers(reference) == []
