"""`elbox study`: seeds trained together equal separate runs; a tiny grid end to end; resume;
bad input refused before any training."""

import csv
import dataclasses
import json
import math
from pathlib import Path

import jax
import numpy as np
import pytest

from elbox.cli import main
from elbox.cli._build import build_vae, run_settings
from elbox.cli._likelihood import run_likelihood
from elbox.cli._options import TrainOptions
from elbox.cli._processes import Processes
from elbox.cli._splits import Splits, batch_loader
from elbox.cli._study import STUDIES, StudyError, plan_study, prepare_folder
from elbox.cli._study._command import report_notes
from elbox.cli._study._report import read_rows
from elbox.cli._study._seeds import seeds_in_turn, train_seeds
from elbox.training import Trainer

from .helpers import params_of, patterns

TINY = TrainOptions(
    framework="equinox",
    latent=3,
    hidden=16,
    epochs=2,
    batch_size=16,
    kl_annealing="linear",
    loss_type="bce_logits",
)


def _splits(model: str = "mlp") -> Splits:
    if model == "mlp":
        data = np.asarray(patterns(80, features=12), np.float32)
        return Splits(
            train=data[:64], validation=data[64:72], test=data[72:], image_shape=(3, 4, 1)
        )
    # The convolutional model takes images whose sides are multiples of 4.
    images = np.asarray(patterns(80, features=64), np.float32).reshape(80, 8, 8, 1)
    return Splits(
        train=images[:64], validation=images[64:72], test=images[72:], image_shape=(8, 8, 1)
    )


@pytest.mark.parametrize(
    ("framework", "likelihood", "model"),
    [
        ("equinox", None, "mlp"),
        ("nnx", None, "mlp"),
        ("nnx", "gaussian", "mlp"),
        ("equinox", None, "conv"),
    ],
)
def test_seeds_trained_together_equal_separate_runs(
    framework: str, likelihood: str | None, model: str
) -> None:
    # A learned global variance is a parameter of each seed's model, vmapped with the rest.
    options = dataclasses.replace(
        TINY,
        framework=framework,  # type: ignore[arg-type]
        loss_type=None if likelihood else TINY.loss_type,
        likelihood=likelihood,  # type: ignore[arg-type]
        model=model,  # type: ignore[arg-type]
    )
    # The convolutional model's seeds take the step in turn on a CPU, the MLP's together.
    assert seeds_in_turn(options) == (model == "conv" and jax.default_backend() == "cpu")
    splits = _splits(model)
    trained = train_seeds(options, [0, 1, 2], splits)
    one = Processes(count=1, index=0, devices=1)
    for seed, together in zip([0, 1, 2], trained.trainers, strict=True):
        # What `elbox train --seed S` does: the same loader and loop, without validation.
        loader = batch_loader(splits.train, options.batch_size, one, shuffle=True, seed=seed)
        steps = options.epochs * len(loader)
        alone, _ = build_vae(
            dataclasses.replace(options, seed=seed),
            splits.image_shape,
            *run_settings(options, steps),
        )
        Trainer(alone, loss_type=run_likelihood(options)).fit(loader, epochs=options.epochs)
        assert together.step == alone.step == steps
        for a, b in zip(params_of(together.model), params_of(alone.model), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert trained.skipped == [0, 0, 0]
    first, second = (params_of(trainer.model)[0] for trainer in trained.trainers[:2])
    assert not np.allclose(first, second)  # the seeds differ


def _study(tmp_path: Path, *extra: str) -> int:
    return main(
        [
            "study",
            "grid",
            "--grid",
            "kl_annealing=none,linear",
            "--grid",
            "latent=2",
            "--grid",
            "hidden=16",
            "--seeds",
            "2",
            "--epochs",
            "2",
            "--output",
            str(tmp_path / "study"),
            *extra,
        ]
    )


def test_a_tiny_grid_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _study(tmp_path) == 0
    folder = tmp_path / "study"
    rows = read_rows(folder / "study.csv")
    assert [(row["setting"], row["seed"]) for row in rows] == [
        ("kl_annealing=none, latent=2, hidden=16", 0),
        ("kl_annealing=none, latent=2, hidden=16", 1),
        ("kl_annealing=linear, latent=2, hidden=16", 0),
        ("kl_annealing=linear, latent=2, hidden=16", 1),
    ]
    for row in rows:
        assert row["neg_elbo"] == pytest.approx(row["recon_loss"] + row["kl"], rel=1e-6)
        assert 0 <= row["active_units"] <= 2
        # The bound on log p(x) is at least the ELBO (within Monte Carlo error).
        assert row["log_likelihood"] >= -row["neg_elbo"] - 0.5
        # The mutual information on every digit (1,797), beside its ceiling log N.
        assert row["mi_ceiling"] == pytest.approx(math.log(1797))
        assert 0 <= row["mutual_information"] <= row["mi_ceiling"]
    table = (folder / "study.md").read_text()
    # Seven metrics: tables of three and four, narrow enough for the docs' content column.
    assert "| setting | neg_elbo | recon_loss | kl |\n" in table
    assert (
        "| setting | log_likelihood | active_units | mutual_information | mi_ceiling |\n" in table
    )
    assert "| kl_annealing=none, latent=2, hidden=16 | " in table
    assert " ± " in table
    assert "estimated on N = 1,797 examples, so it cannot exceed log N" in table
    # The seeds pair: linear against none, latent and hidden held.
    assert "| kl_annealing (latent, hidden) | neg_elbo | recon_loss | kl |" in table
    assert "| linear vs none (2, 16) | " in table
    paired = read_rows(folder / "paired.csv")
    assert [row["metric"] for row in paired] == [
        "neg_elbo",
        "recon_loss",
        "kl",
        "log_likelihood",
        "active_units",
        "mutual_information",
    ]
    by_seed = {(row["setting"][:16], row["seed"]): row["kl"] for row in rows}
    differences = [by_seed["kl_annealing=lin", s] - by_seed["kl_annealing=non", s] for s in (0, 1)]
    assert paired[2]["mean"] == pytest.approx(sum(differences) / 2)
    assert paired[2]["seeds"] == 2
    record = json.loads((folder / "study.json").read_text())
    run = record["run"]
    assert run["seconds"] > 0
    # The digits' training split: 1,438 images less 10% for validation, batches of 64.
    first = dict(run["settings"]["kl_annealing=none, latent=2, hidden=16"])
    assert first.pop("train_seconds") > 0
    assert first == {
        "train_examples": 1295,
        "validation_examples": 143,
        "test_examples": 359,
        "steps_per_epoch": 20,
        "steps": 40,
    }
    assert (folder / "study.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "[1/2] kl_annealing=none, latent=2, hidden=16: 2 seeds trained together" in printed

    # A finished study is not replaced by accident...
    assert _study(tmp_path) == 2
    assert "already holds a study; pass --resume to continue it" in capsys.readouterr().err
    # ... and resuming it trains nothing.
    assert _study(tmp_path, "--resume") == 0
    assert capsys.readouterr().out.count("done before, skipped") == 2


def test_resume_skips_finished_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _study(tmp_path) == 0
    folder = tmp_path / "study"
    # As if killed after the first setting: only its rows are on disk.
    with (folder / "study.csv").open() as file:
        rows = list(csv.DictReader(file))
    kept = [row for row in rows if row["setting"].startswith("kl_annealing=none")]
    with (folder / "study.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    capsys.readouterr()
    assert _study(tmp_path, "--resume") == 0
    printed = capsys.readouterr().out
    assert "[1/2] kl_annealing=none, latent=2, hidden=16: done before, skipped" in printed
    assert "[2/2] kl_annealing=linear, latent=2, hidden=16: 2 seeds trained together" in printed
    again = read_rows(folder / "study.csv")
    assert len(again) == 4
    first = [row for row in again if row["setting"].startswith("kl_annealing=none")]
    assert [row["neg_elbo"] for row in first] == [float(row["neg_elbo"]) for row in kept]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["study", "nonsense"],
            "unknown study 'nonsense'; the studies are collapse, beta, iwae, grid",
        ),
        (["study", "grid"], "the study `grid` is made of --grid options: give at least one"),
        (["study", "grid", "--grid", "betta=1,2"], "--grid betta: not an `elbox train` option"),
        (["study", "grid", "--grid", "seed=1,2"], "--grid seed: the study's seeds are 0 .."),
        (["study", "grid", "--grid", "beta"], "--grid 'beta': expected KEY=VALUE[,VALUE...]"),
        (["study", "grid", "--grid", "beta=1,x"], "--grid beta: 'x' is not a valid float"),
        (
            ["study", "grid", "--grid", "kl_annealing=none,steep"],
            "--grid kl_annealing: 'steep' is not one of none, linear, sigmoid, cyclical",
        ),
        (
            ["study", "grid", "--grid", "beta=1,-2"],
            "setting 'beta=-2.0': --beta must be a finite number >= 0; got -2.0",
        ),
        (
            ["study", "collapse", "--grid", "free_bits_mode=per_sample,sometimes"],
            "--grid free_bits_mode: 'sometimes' is not one of per_sample, batch",
        ),
        (["study", "collapse", "--seeds", "0"], "--seeds must be >= 1; got 0"),
        (
            ["study", "collapse", "--budget", "train=5"],
            "--budget sets the disentanglement scores' points: this study measures collapse",
        ),
        (
            ["study", "beta", "--budget", "trian=5"],
            "--budget 'trian=5': expected NAME=COUNT with NAME one of points, train, test,",
        ),
        (["study", "beta", "--budget", "train=0"], "--budget train must be >= 1; got 0"),
        (["study", "beta", "--budget", "test=x"], "--budget test: 'x' is not a whole number"),
        (
            ["study", "beta", "--dataset", "digits"],
            "--dataset digits: the beta study measures disentanglement, which needs "
            "ground-truth factors: use shapes_grid, shapes_grid_upright or dsprites",
        ),
        (
            ["study", "beta", "--dataset", "nist"],
            "--dataset 'nist': the data sets are digits, shapes, shapes_grid, shapes_grid_upright",
        ),
        (["study", "collapse", "--epochs", "0"], "--epochs must be >= 1; got 0"),
    ],
)
def test_bad_input_exits_2_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    output = tmp_path / "study"
    assert main([*arguments, "--output", str(output)]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_a_folder_with_other_content_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert _study(tmp_path) == 2
    assert "is not empty and holds no study" in capsys.readouterr().err
    assert _study(tmp_path, "--resume") == 2
    assert "holds no study to continue" in capsys.readouterr().err
    assert (folder / "notes.txt").read_text() == "mine"


def test_resume_of_another_study_is_refused(tmp_path: Path) -> None:
    plan = plan_study("grid", seeds=2, epochs=2, grid=["beta=1,2"], output=tmp_path / "s")
    rows, run = prepare_folder(plan, resume=False, overwrite=False, command="elbox study")
    assert rows == []
    assert (run.command, run.seconds, run.settings) == ("elbox study", 0.0, {})
    other = plan_study("grid", seeds=2, epochs=3, grid=["beta=1,2"], output=tmp_path / "s")
    with pytest.raises(StudyError, match="holds study 'grid' with other settings, seeds, epochs"):
        prepare_folder(other, resume=True, overwrite=False)
    with pytest.raises(StudyError, match="--resume continues a study and --overwrite replaces"):
        prepare_folder(other, resume=True, overwrite=True)


def test_built_in_studies_have_the_issue_s_grids() -> None:
    collapse = STUDIES["collapse"]
    labels = [setting.label for setting in collapse.settings()]
    assert len(labels) == 12
    assert labels[0] == "kl_annealing=none, free_bits=off"
    assert labels[-1] == "kl_annealing=cyclical, free_bits=0.5 batch"
    assert collapse.base["latent"] == 32
    assert collapse.base["beta"] == 1.0
    beta = STUDIES["beta"]
    assert [setting.options["beta"] for setting in beta.settings()[:5]] == [1, 2, 4, 8, 16]
    assert beta.base["kl_annealing"] == "linear"
    extra = beta.settings()[5:]
    assert [(s.label, s.options["objective"]) for s in extra] == [
        ("capacity, c_max=25", "capacity"),
        ("beta-tc, beta=6", "beta-tc"),
    ]


@pytest.mark.parametrize(
    ("count", "sizes"), [(1, [1]), (4, [4]), (5, [2, 3]), (6, [3, 3]), (7, [3, 4]), (9, [3, 3, 3])]
)
def test_metrics_are_split_into_tables_of_at_most_four(count: int, sizes: list[int]) -> None:
    from elbox.cli._study._report import metric_groups

    names = [f"m{index}" for index in range(count)]
    groups = metric_groups(names)
    assert [len(group) for group in groups] == sizes
    assert [name for group in groups for name in group] == names


def test_a_budget_and_a_dataset_reach_every_setting_and_the_record(tmp_path: Path) -> None:
    plan = plan_study(
        "beta",
        seeds=2,
        epochs=1,
        grid=["beta=1,8"],
        output=tmp_path / "s",
        budget=["train=700,test=300", "vote_train=2000"],
        dataset="shapes_grid_upright",
    )
    # The extra settings (capacity, beta-TC) train on the chosen data too.
    assert {options.dataset for options in plan.options.values()} == {"shapes_grid_upright"}
    assert len(plan.options) == 4
    record = plan.record()
    assert record["budget"] == {
        "points": 10_000,
        "train": 700,
        "test": 300,
        "vote_train": 2_000,
        "vote_eval": 500,
        "variance_points": 5_000,
    }
    (note,) = report_notes(plan, [])
    assert "SAP and DCI on 700 training and 300 test points" in note
    assert "on 2,000 training and 500 evaluation votes of 64 images" in note
    assert "the FactorVAE variances on 5,000 points" in note


def test_a_study_on_another_data_set_says_so_in_its_report() -> None:
    upright = plan_study(
        "beta", seeds=1, epochs=1, grid=[], output=None, dataset="shapes_grid_upright"
    )
    assert upright.spec.base["dataset"] == "shapes_grid_upright"
    assert upright.spec.description == (
        STUDIES["beta"].description
        + " Run here on `--dataset shapes_grid_upright` instead of shapes_grid."
    )
    # The built-in data set named again changes nothing.
    same = plan_study("beta", seeds=1, epochs=1, grid=[], output=None, dataset="shapes_grid")
    assert same.spec == STUDIES["beta"]
