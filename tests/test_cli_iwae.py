"""`elbox train --objective iwae --num-samples K --gradient ...`: the run trains the
importance-weighted bound and records its choice; bad options fail before training."""

import json
from pathlib import Path

import pytest

from elbox.cli import main
from elbox.cli._build import objective_options_of
from elbox.cli._options import TrainOptions
from elbox.cli._study._report import read_rows
from elbox.cli._study._spec import STUDIES

TINY = ["--hidden", "16", "--latent", "3", "--epochs", "1", "--batch-size", "128"]


def test_train_with_the_iwae_objective(tmp_path: Path) -> None:
    run = tmp_path / "run"
    arguments = ["--objective", "iwae", "--num-samples", "3", "--gradient", "dreg"]
    options = ["--framework", "equinox", "--output", str(run)]
    assert main(["train", *TINY, *arguments, *options]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["objective"] == {"name": "iwae", "num_samples": 3, "gradient": "dreg"}
    assert config["vae_config"]["free_bits"] == 0.0  # free bits belong to the ELBO
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [record for record in records if record["kind"] == "step"]
    assert all(1.0 <= record["ess"] <= 3.0 for record in steps)
    assert all(record["kl_weight"] == 1.0 for record in steps)
    # The loss is the negative bound (the continuous Bernoulli leaves out no constant).
    assert all(record["loss"] == pytest.approx(-record["iwae_bound"]) for record in steps)
    epochs = [record for record in records if record["kind"] == "epoch"]
    assert "val_iwae_bound" in epochs[-1]


def test_the_objective_options_are_the_flags() -> None:
    options = TrainOptions(objective="iwae", num_samples=50, gradient="stl")
    assert objective_options_of(options, total_steps=100) == {
        "num_samples": 50,
        "gradient": "stl",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "iwae", "--num-samples", "0"], "--num-samples must be >= 1; got 0"),
        (
            ["--num-samples", "50"],
            "--num-samples is an option of --objective iwae, not of --objective elbo: add "
            "--objective iwae, or leave --num-samples out",
        ),
        (
            ["--objective", "capacity", "--gradient", "dreg"],
            "--gradient is an option of --objective iwae, not of --objective capacity",
        ),
        (
            ["--objective", "iwae", "--gradient", "reinforce"],
            "argument --gradient: invalid choice: 'reinforce' (choose from 'standard', "
            "'dreg', 'stl')",
        ),
    ],
)
def test_bad_iwae_options_fail_before_training(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_iwae_study_has_the_issues_grid() -> None:
    spec = STUDIES["iwae"]
    assert [setting.label for setting in spec.settings()] == [
        f"num_samples={k}, gradient={gradient}"
        for k in (1, 5, 50)
        for gradient in ("standard", "dreg")
    ]
    assert spec.base["objective"] == "iwae"
    assert spec.base["likelihood"] == "bernoulli"  # dynamic binarisation of the digits


def test_a_tiny_iwae_study_end_to_end(tmp_path: Path) -> None:
    # The smallest budget: one setting, one seed, one epoch. The full study
    # (`elbox study iwae`) is a long job, not a test.
    arguments = ["study", "iwae", "--grid", "num_samples=3", "--grid", "gradient=dreg"]
    arguments += ["--grid", "hidden=16"]
    budget = ["--seeds", "1", "--epochs", "1", "--output", str(tmp_path / "study")]
    assert main([*arguments, *budget]) == 0
    rows = read_rows(tmp_path / "study" / "study.csv")
    assert [row["setting"] for row in rows] == ["num_samples=3, gradient=dreg, hidden=16"]
    for row in rows:
        assert row["log_likelihood"] >= -row["neg_elbo"] - 0.5
        assert 0 <= row["active_units"] <= 16
        assert row["encoder_snr"] > 0.0
        assert row["decoder_snr"] > 0.0
