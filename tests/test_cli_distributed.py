"""`elbox train --distributed`: two local processes end with the parameters of one process
trained on the same global batches, and only process 0 writes logs and the summary."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

import elbox.distributed
from elbox.cli import main
from elbox.cli._build import build_vae, saved_settings
from elbox.cli._options import TrainOptions
from elbox.training import CheckpointStore

from .helpers import xla_flags_with_devices
from .test_loggers import _events

OPTIONS = ["--epochs", "2", "--batch-size", "8", "--hidden", "16", "--latent", "3"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _final_params(run: Path) -> tuple[list[np.ndarray[Any, Any]], int]:
    """The parameters of the run's latest checkpoint, and its step."""
    config = json.loads((run / "config.json").read_text())
    options = TrainOptions.from_json(config["options"])
    image_shape = tuple(config["image_shape"])
    vae, _ = build_vae(options, image_shape, *saved_settings(config, options))
    with CheckpointStore(run / "checkpoints") as store:
        state, _, step = store.restore(vae.state, which="latest")
    return [np.asarray(leaf) for leaf in jax.tree.leaves(state.params)], step


@pytest.mark.process  # two processes joined into one JAX runtime
def test_two_processes_train_like_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    values = np.random.default_rng(0).uniform(size=(80, 4, 3)).astype(np.float32)
    np.save(tmp_path / "data.npy", values)  # split 64 / 8 / 8: 8 global batches per epoch
    command = [sys.executable, "-m", "elbox.cli", "train", "--data", "data.npy", *OPTIONS]
    environment = {**os.environ, "JAX_PLATFORMS": "cpu"}
    port = _free_port()
    workers = [
        subprocess.Popen(
            [*command, "--distributed", "--log", "tensorboard", "--output", "two"],
            cwd=tmp_path,
            env={
                **environment,
                "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                "JAX_NUM_PROCESSES": "2",
                "JAX_PROCESS_ID": str(index),
                "XLA_FLAGS": xla_flags_with_devices(2),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    # The same training in one process: this one.
    monkeypatch.chdir(tmp_path)
    single = main(["train", "--data", "data.npy", *OPTIONS, "--output", "one"])
    outputs = [worker.communicate(timeout=900) for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-4000:]
    assert single == 0, capsys.readouterr().err[-4000:]

    got, step = _final_params(tmp_path / "two")
    want, single_step = _final_params(tmp_path / "one")
    assert step == single_step == 16
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)

    # Process 0 alone printed the summary and wrote the logs: each step once.
    assert "elbox: trained an MLP VAE (nnx)" in outputs[0][0]
    assert "elbox: trained" not in outputs[1][0]  # (its stdout holds gloo's messages only)
    assert "epoch 2/2" not in outputs[1][1]  # no progress display either
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert (summary["processes"], summary["steps"]) == (2, 16)
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    steps = [r["step"] for r in map(json.loads, lines) if r["kind"] == "step"]
    assert steps == list(range(16))
    events = _events(tmp_path / "two" / "tensorboard")
    assert [e.step for e in events.Scalars("train/loss")] == list(range(16))
    assert len(list((tmp_path / "two" / "tensorboard").iterdir())) == 1
    # Both runs used the same split of the same data.
    np.testing.assert_array_equal(
        np.load(tmp_path / "two" / "split.npz")["test"],
        np.load(tmp_path / "one" / "split.npz")["test"],
    )


def test_distributed_without_a_cluster_is_a_users_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_cluster(*args: object, **kwargs: object) -> None:
        raise ValueError("coordinator_address should be defined.")  # as JAX says it

    monkeypatch.setattr(elbox.distributed, "initialize", no_cluster)
    run = tmp_path / "run"
    assert main(["train", "--distributed", "--output", str(run)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "elbox train: error: --distributed: coordinator_address should be defined; set "
        "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID in every process, or "
        "start them with a launcher JAX detects (SLURM, Open MPI)"
    ]
    assert not run.exists()
