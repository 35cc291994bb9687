"""Two processes on one machine, joined by elbox.distributed, train like one process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from elbox.distributed import resolve_config
from elbox.training import CheckpointStore, Trainer

from .distributed_worker import CONFIG, EPOCHS, global_batches
from .helpers import FRAMEWORKS, Framework, make_trainer, params_of, xla_flags_with_devices

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.process  # two processes joined into one JAX runtime
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_two_processes_match_one(framework: Framework, tmp_path: Path) -> None:
    port = _free_port()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.distributed_worker", framework, str(tmp_path)],
            cwd=ROOT,
            env={
                **os.environ,
                "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                "JAX_NUM_PROCESSES": "2",
                "JAX_PROCESS_ID": str(index),
                "JAX_PLATFORMS": "cpu",
                "XLA_FLAGS": xla_flags_with_devices(2),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(2)
    ]
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-4000:]

    # The same global batches through one process on one device.
    reference = make_trainer(framework, CONFIG)
    Trainer(reference).fit(global_batches(), epochs=EPOCHS)
    with np.load(tmp_path / "params.npz") as saved:
        got = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    want = params_of(reference.model)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)

    # Process 0 alone wrote the logs: each step once.
    records = [
        json.loads(line) for line in (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in records if r["kind"] == "step"] == list(range(10))
    # The checkpoint written by both processes reads back in a single process.
    fresh = make_trainer(framework, CONFIG, seed=3)
    with CheckpointStore(tmp_path / "checkpoints") as store:
        state, metadata, step = store.restore(fresh.state)
    fresh.load_state(state)
    assert (step, metadata["epoch"]) == (10, 1)
    for g, w in zip(params_of(fresh.model), want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.usefixtures("without_hook_checks")
@pytest.mark.parametrize(
    ("kwargs", "environ", "message"),
    [
        ({"coordinator_address": "localhost"}, {}, "must be host:port"),
        ({"num_processes": 2}, {}, "num_processes is set but process_id is not"),
        (
            {"num_processes": 2, "process_id": 2},
            {},
            r"process_id must be below num_processes \(2\); got 2",
        ),
        ({"num_processes": 0, "process_id": 0}, {}, "num_processes must be >= 1; got 0"),
        (
            {},
            {"JAX_NUM_PROCESSES": "two", "JAX_PROCESS_ID": "0"},
            "JAX_NUM_PROCESSES must be an integer",
        ),
    ],
)
def test_bad_distributed_settings(
    kwargs: dict[str, object], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_config(**kwargs, environ=environ)  # type: ignore[arg-type]  # deliberately bad


def test_settings_from_the_environment() -> None:
    config = resolve_config(
        environ={
            "JAX_COORDINATOR_ADDRESS": "10.0.0.1:99",
            "JAX_NUM_PROCESSES": "4",
            "JAX_PROCESS_ID": "3",
        }
    )
    assert (config.coordinator_address, config.num_processes, config.process_id) == (
        "10.0.0.1:99",
        4,
        3,
    )
    # Arguments win over the environment.
    assert (
        resolve_config(num_processes=2, process_id=0, environ={"JAX_PROCESS_ID": "1"}).process_id
        == 0
    )
