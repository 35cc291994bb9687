"""`elbox eval --metrics ... --num-samples K`: the metrics that apply to a run, checked."""

import json
import re
from pathlib import Path

import pytest

from elbox.cli import main

# The tests share a trained run (a module fixture): one pytest-xdist worker makes it.
pytestmark = pytest.mark.xdist_group("cli_eval")

TINY = ["--framework", "equinox", "--hidden", "16", "--latent", "3", "--epochs", "1"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("eval") / "digits"
    assert main(["train", *TINY, "--output", str(run)]) == 0
    return run


def test_eval_prints_and_writes_the_general_metrics(
    digits_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["eval", str(digits_run), "--num-samples", "20"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"best checkpoint \(epoch 1\) on the test split \(\d+ examples\)", out)
    assert "K=20," in out
    record = json.loads((digits_run / "evaluation.json").read_text())
    assert record["metrics"] == ["neg_elbo", "log_likelihood", "active_units", "mutual_information"]
    assert record["num_samples"] == 20
    assert record["neg_elbo"] == pytest.approx(record["recon_loss"] + record["kl"])
    # The bound on log p(x) lies above the ELBO (up to Monte Carlo error).
    assert record["log_likelihood"] >= -record["neg_elbo"] - 0.5
    assert record["mutual_information"] >= 0.0
    assert "disentanglement" not in record


def test_a_chosen_subset(digits_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["eval", str(digits_run), "--metrics", "active_units"]) == 0
    out = capsys.readouterr().out
    assert "active units" in out
    assert "log-likelihood bound" not in out
    assert json.loads((digits_run / "evaluation.json").read_text())["metrics"] == ["active_units"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--metrics", "accuracy"], "--metrics: unknown 'accuracy'; the metrics are neg_elbo,"),
        (["--metrics", "mig"], "--metrics mig: disentanglement scores need ground-truth factors"),
        (["--num-samples", "0"], "--num-samples must be >= 1; got 0"),
    ],
)
def test_bad_requests_exit_2(
    digits_run: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    status: int | str | None
    try:
        status = main(["eval", str(digits_run), *arguments])
    except SystemExit as exit_info:  # argparse-level checks exit; the others return
        status = exit_info.code
    assert status == 2
    assert message in capsys.readouterr().err


def test_a_shapes_grid_run_gets_the_disentanglement_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "grid"
    options = ["--dataset", "shapes_grid", "--batch-size", "256", "--output", str(run)]
    assert main(["train", *TINY, *options]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "mig", "modularity", "sap"]) == 0
    out = capsys.readouterr().out
    scores = json.loads((run / "evaluation.json").read_text())["disentanglement"]
    assert sorted(scores) == ["mig", "modularity", "sap"]
    assert all(0.0 <= value <= 1.0 for value in scores.values())
    assert re.search(r"mig +\d\.\d{3}", out)
