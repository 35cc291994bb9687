"""`elbox train --log tensorboard --log wandb`: both loggers read back, TensorBoard's with
its event reader and W&B's offline run with W&B's own inspector of its log."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from elbox.cli import main

from .test_loggers import EPOCH_TAGS, STEP_TAGS, _events


@pytest.mark.usefixtures("without_extras")
def test_a_missing_package_is_one_line_naming_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["train", "--log", "wandb", "--output", str(run)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "elbox train: error: --log wandb needs the wandb package: pip install wandb (or "
        "elbox's extra 'wandb': pip install '.[wandb]' in a clone of elbox)"
    ]
    assert not run.exists()


def _wandb_history(run_dir: Path) -> list[dict[str, Any]]:
    """The history rows of an offline W&B run, read by W&B's own inspector of its log."""
    inspector = Path(sys.executable).with_name("wandb")
    listing = subprocess.run(
        [str(inspector), "leet", "inspect", "--json", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={**os.environ, "WANDB_MODE": "offline"},
    )
    records = [json.loads(line) for line in listing.stdout.splitlines() if line.strip()]
    return [record["history"]["item"] for record in records if record["type"] == "history"]


@pytest.mark.process  # W&B's inspector, a program of its own, reads the run's log back
def test_cli_logs_to_tensorboard_and_wandb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # W&B offline and quiet: no network, no login prompt, files under tmp_path.
    for name, value in {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DIR": str(tmp_path),
        "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"),
        "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
        "WANDB_DATA_DIR": str(tmp_path / "wandb-data"),
        "WANDB_ERROR_REPORTING": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    code = main(
        [
            "train",
            *("--epochs", "2", "--hidden", "32", "--latent", "4"),
            *("--log", "tensorboard", "--log", "wandb", "--log-images-every", "1"),
            *("--output", str(run)),
        ]
    )
    assert code == 0, capsys.readouterr().err[-3000:]

    # TensorBoard: run/tensorboard, every step and epoch, images after each epoch.
    events = _events(run / "tensorboard")
    scalars = set(events.Tags()["scalars"])
    assert scalars >= STEP_TAGS
    assert scalars >= EPOCH_TAGS
    assert [e.step for e in events.Scalars("train/loss")] == list(range(40))
    assert [e.step for e in events.Scalars("epoch/val_neg_elbo")] == [20, 40]
    assert [e.step for e in events.Images("images/samples")] == [20, 40]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in metrics if r["kind"] == "epoch"]
    tensorboard_values = [e.value for e in events.Scalars("epoch/val_neg_elbo")]
    np.testing.assert_allclose(tensorboard_values, [r["val_neg_elbo"] for r in epochs], rtol=1e-6)

    # W&B: one offline run in run/wandb, with the same history.
    (run_dir,) = (run / "wandb").glob("offline-run-*")
    history = _wandb_history(run_dir)
    steps = [row["_step"] for row in history]
    assert steps == list(range(41))  # steps 0..39, and the epoch logs at 40
    assert all("train/loss" in row for row in history[:40])
    assert "epoch/val_neg_elbo" in history[20]
    np.testing.assert_allclose(
        [history[20]["epoch/val_neg_elbo"], history[40]["epoch/val_neg_elbo"]],
        [r["val_neg_elbo"] for r in epochs],
        rtol=1e-6,
    )
    assert history[40]["images/samples._type"] == "image-file"
