"""The `elbox` command: end-to-end runs (in the test process), its files, plots and bad
inputs."""

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from elbox.cli import main
from elbox.cli._build import objective_options_of, training_config
from elbox.cli._options import TrainOptions, check_options
from elbox.cli._plots import KL_PARTS, PLOT_NAMES, plot_training_curves
from elbox.cli._splits import load_splits


def _elbox(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`elbox ARGS` in this process: its exit status, stdout and stderr."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exit_info:  # argparse's own errors
        code = int(exit_info.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _check_png(path: Path) -> None:
    pixels = np.asarray(image.imread(path))
    assert pixels.ndim == 3
    assert pixels.shape[0] > 100
    assert pixels.shape[1] > 100
    assert float(pixels[..., :3].std()) > 0.05, f"{path.name} looks blank"


@pytest.mark.parametrize("framework", ["nnx", "equinox"])
def test_train_end_to_end(
    framework: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    code, out, err = _elbox(
        "train", "--framework", framework, "--epochs", "4", "--output", str(run), capsys=capsys
    )
    assert code == 0, err[-3000:]
    assert f"elbox: trained an MLP VAE ({framework}) on digits for 4 epochs (80 steps)" in out
    assert "test negative ELBO:" in out
    # The default likelihood of the digits is the continuous Bernoulli, a density: the
    # summary names it, and its bound is a log-density, which may be positive.
    assert "likelihood: continuous_bernoulli (continuous Bernoulli with logits decode(z))" in out
    assert re.search(r"log-likelihood bound: -?\d+\.\d\d nats per example \(importance-", out)
    # The bound's default samples, on as many test examples as cost about what 4 epochs of
    # training did (at least 100: end_of_run_examples).
    assert "K=1000, 100 test examples" in out
    assert "active units:" in out
    assert re.search(r"mutual information I\(x; z\): \d+\.\d\d nats", out)
    assert f"run folder: {run}" in out
    assert "epoch 4/4:" in err  # the progress display's epoch summaries

    config = json.loads((run / "config.json").read_text())
    assert config["options"]["framework"] == framework
    assert config["vae_config"] == {
        "kl_annealing": "cyclical",
        "kl_warmup_steps": 20,  # a quarter of the 80 steps
        "beta": 4.0,
        "free_bits": 0.5,
        "cyclical_period": 20,
        "free_bits_mode": "per_sample",
    }
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert len([r for r in records if r["kind"] == "step"]) == 80
    assert len(epochs) == 4
    # The loss fell: the unannealed validation objective and the reconstruction.
    assert epochs[-1]["val_neg_elbo"] < epochs[0]["val_neg_elbo"]
    assert epochs[-1]["recon_loss"] < epochs[0]["recon_loss"]
    assert (run / "epochs.csv").read_text().count("\n") == 5
    assert any(path.name.isdigit() for path in (run / "checkpoints").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 80
    assert 0 <= summary["test"]["active_units"] <= 16
    assert summary["test"]["neg_elbo"] == pytest.approx(
        summary["test"]["recon_loss"] + summary["test"]["kl"]
    )
    for name in PLOT_NAMES:
        _check_png(run / "plots" / f"{name}.png")

    # `elbox eval` and `elbox plot` read the run back.
    code, out, err = _elbox("eval", str(run), capsys=capsys)
    assert code == 0, err[-3000:]
    assert "best checkpoint (epoch" in out
    neg_elbo = f"{summary['test']['neg_elbo']:.2f}"
    assert re.search(rf"test negative ELBO +{neg_elbo} +nats per example", out)
    assert re.search(r"log-likelihood bound +-?\d+\.\d\d +nats per example", out)
    assert json.loads((run / "evaluation.json").read_text())["neg_elbo"] == pytest.approx(
        summary["test"]["neg_elbo"]
    )
    (run / "plots" / "samples.png").unlink()
    code, out, err = _elbox("plot", str(run), capsys=capsys)
    assert code == 0, err[-3000:]
    assert str(run / "plots" / "samples.png") in out.splitlines()
    _check_png(run / "plots" / "samples.png")


def test_resume_continues_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    tiny = ["--framework", "equinox", "--hidden", "32", "--latent", "4"]
    code, _, err = _elbox("train", *tiny, "--epochs", "2", "--output", str(run), capsys=capsys)
    assert code == 0, err[-3000:]
    code, _, err = _elbox("train", *tiny, "--epochs", "3", "--output", str(run), capsys=capsys)
    assert code == 2
    assert "already holds a run; pass --resume to continue it or --overwrite" in err
    code, out, err = _elbox(
        "train", *tiny, "--epochs", "3", "--output", str(run), "--resume", capsys=capsys
    )
    assert code == 0, err[-3000:]
    assert "for 3 epochs (60 steps)" in out
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "step"] == list(range(60))
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [0, 1, 2]


def test_train_with_the_capacity_objective(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    code, _, err = _elbox(
        "train",
        *("--objective", "capacity", "--c-max", "3", "--capacity-steps", "20", "--gamma", "50"),
        *("--epochs", "2", "--hidden", "32", "--latent", "4", "--output", str(run)),
        capsys=capsys,
    )
    assert code == 0, err[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["objective"] == {
        "name": "capacity",
        "c_max": 3.0,
        "capacity_steps": 20,
        "gamma": 50.0,
    }
    assert config["vae_config"]["free_bits"] == 0.0  # free bits belong to the ELBO
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    assert [r["capacity"] for r in steps[:3]] == pytest.approx([0.0, 0.15, 0.3])
    assert steps[-1]["capacity"] == 3.0
    assert all(r["kl_weight"] == 50.0 for r in steps)
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert "val_neg_elbo" in epochs[-1]
    assert "val_capacity" not in epochs[-1]
    _check_png(run / "plots" / "training_curves.png")
    summary = json.loads((run / "summary.json").read_text())  # evaluated with its objective
    assert summary["test"]["neg_elbo"] == pytest.approx(
        summary["test"]["recon_loss"] + summary["test"]["kl"]
    )


def _drawn(figure: Figure) -> dict[str, list[tuple[str, list[float], list[float]]]]:
    """The lines of each titled panel of `figure`: (label, x, y), in drawing order."""
    panels: dict[str, list[tuple[str, list[float], list[float]]]] = {}
    for axis in figure.axes:
        if not axis.get_title():
            continue
        lines: list[Line2D] = list(axis.get_lines())
        panels[axis.get_title()] = [
            (
                str(line.get_label()),
                np.asarray(line.get_xdata(), np.float64).tolist(),
                np.asarray(line.get_ydata(), np.float64).tolist(),
            )
            for line in lines
        ]
    return panels


def _labelled(
    lines: list[tuple[str, list[float], list[float]]], label: str
) -> tuple[list[float], list[float]]:
    (found,) = [(x, y) for name, x, y in lines if name == label]
    return found


def _unlabelled(lines: list[tuple[str, list[float], list[float]]]) -> list[list[float]]:
    """The y data of the lines without a label (matplotlib names them `_child...`)."""
    return [y for name, _, y in lines if name.startswith("_")]


def test_training_curves_show_the_objectives_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[Figure] = []
    close = plt.close

    def keep(figure: Any = None) -> None:  # the figures, as they were saved
        drawn.append(figure)
        close(figure)

    monkeypatch.setattr(plt, "close", keep)
    rng = np.random.default_rng(0)
    steps: dict[str, list[float]] = {"step": [float(step) for step in range(50)]}
    for name in ("loss", "recon_loss", "kl_loss", "kl_weight", *(n for n, _ in KL_PARTS)):
        steps[name] = rng.uniform(size=50).tolist()
    epochs = [{"step": 25, "val_total_correlation": 0.3}, {"step": 50, "val_neg_elbo": 1.0}]
    _check_png(plot_training_curves(steps, epochs, tmp_path / "beta_tc.png"))
    panels = _drawn(drawn[-1])
    # beta-TC: the KL's three parts in a third row, and the total correlation on its own.
    assert list(panels) == [
        "annealed loss",
        "reconstruction loss",
        "KL",  # the plain KL: free bits belong to the ELBO
        "TC weight (beta x annealing)",
        "the KL's parts (sampled, train)",
        "total correlation",
    ]
    for title, name in [
        ("annealed loss", "loss"),
        ("reconstruction loss", "recon_loss"),
        ("KL", "kl_loss"),
        ("total correlation", "total_correlation"),
    ]:
        x, y = _labelled(panels[title], "train")  # 50 steps: drawn as they are, unsmoothed
        assert (x, y) == (steps["step"], steps[name])
    assert panels["TC weight (beta x annealing)"][0][2] == steps["kl_weight"]
    for name, label in KL_PARTS:
        assert _labelled(panels["the KL's parts (sampled, train)"], label)[1] == steps[name]
    # Validation values sit at their epochs' steps; a metric an epoch lacks is a gap (NaN).
    x, y = _labelled(panels["total correlation"], "validation")
    assert x == [25.0, 50.0]
    assert y[0] == 0.3
    assert np.isnan(y[1])
    x, y = _labelled(panels["annealed loss"], "validation -ELBO")
    assert x == [25.0, 50.0]
    assert np.isnan(y[0])
    assert y[1] == 1.0

    # Capacity: the KL with its target C, and the gap |KL - C| that gamma weights.
    del steps["mutual_info"]
    steps["capacity"] = np.linspace(0.0, 3.0, 50).tolist()
    _check_png(plot_training_curves(steps, epochs, tmp_path / "capacity.png"))
    panels = _drawn(drawn[-1])
    assert list(panels) == [
        "annealed loss",
        "reconstruction loss",
        "KL",
        "|KL - C|, the gap gamma weights",
    ]
    assert _labelled(panels["KL"], "capacity C")[1] == steps["capacity"]
    assert _labelled(panels["KL"], "train")[1] == steps["kl_loss"]
    gap = np.abs(np.asarray(steps["kl_loss"]) - np.asarray(steps["capacity"]))
    for y in _unlabelled(panels["|KL - C|, the gap gamma weights"]):
        np.testing.assert_allclose(y, gap)

    # The ELBO: the KL after free bits, and the KL weight's schedule.
    del steps["capacity"], steps["total_correlation"], steps["dimension_kl"]
    _check_png(plot_training_curves(steps, epochs, tmp_path / "elbo.png"))
    panels = _drawn(drawn[-1])
    assert list(panels) == [
        "annealed loss",
        "reconstruction loss",
        "KL (after free bits)",
        "KL weight (beta x annealing)",
    ]
    assert panels["KL weight (beta x annealing)"][0][2] == steps["kl_weight"]


# -- bad inputs: exit status 2 and a message, before any training ---------------------------


@pytest.mark.parametrize(
    ("flag", "value", "choices"),
    [
        ("--framework", "torch", "'nnx', 'equinox'"),
        ("--model", "resnet", "'mlp', 'conv'"),
        (
            "--dataset",
            "svhn",
            "'digits', 'shapes', 'shapes_grid', 'shapes_grid_upright', 'mnist', "
            "'fashion_mnist', 'binarized_mnist', 'cifar10', 'dsprites'",
        ),
        ("--kl-annealing", "cosine", "'none', 'linear', 'sigmoid', 'cyclical'"),
        ("--loss-type", "l1", "'mse', 'bce', 'bce_logits', 'mae'"),
        ("--objective", "factor-vae", "'elbo', 'capacity', 'beta-tc', 'iwae'"),
    ],
)
def test_unknown_names_list_the_choices(
    flag: str, value: str, choices: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", flag, value])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f"argument {flag}: invalid choice: '{value}' (choose from {choices})" in error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--loss-type", "bce", "--decoder-output", "logits"],
            "--loss-type bce takes probabilities in [0, 1], but --decoder-output logits",
        ),
        (
            ["--loss-type", "bce_logits", "--decoder-output", "sigmoid"],
            "--loss-type bce_logits takes logits, but --decoder-output sigmoid",
        ),
        (["--epochs", "0"], "--epochs must be >= 1; got 0"),
        (["--beta", "-1"], "--beta must be a finite number >= 0; got -1.0"),
        (["--c-max", "-2"], "--c-max must be a finite number >= 0; got -2.0"),
        (["--gamma", "-1"], "--gamma must be a finite number >= 0; got -1.0"),
        (["--capacity-steps", "0"], "--capacity-steps must be >= 1; got 0"),
        (["--resume"], "--resume needs --output"),
        (["--resume", "--overwrite", "--output", "x"], "choose one"),
    ],
)
def test_contradictory_options_fail_before_training(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # where a run without --output would go
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_resume_of_a_folder_without_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--output", str(tmp_path / "nothing"), "--resume"]) == 2
    assert "holds no run to continue" in capsys.readouterr().err


def test_eval_of_a_folder_without_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path)]) == 2
    assert f"{tmp_path} holds no elbox run (no config.json)" in capsys.readouterr().err


# -- pieces ----------------------------------------------------------------------------------


def test_annealing_periods_scale_with_the_run() -> None:
    config = training_config(TrainOptions(), total_steps=1000)
    assert (config.cyclical_period, config.kl_warmup_steps) == (250, 250)
    config = training_config(TrainOptions(cyclical_period=7, kl_warmup_steps=3), total_steps=1000)
    assert (config.cyclical_period, config.kl_warmup_steps) == (7, 3)


def test_the_capacity_ramp_scales_with_the_run_and_free_bits_stay_with_the_elbo() -> None:
    options = TrainOptions(objective="capacity")
    assert objective_options_of(options, total_steps=1000) == {
        "c_max": 25.0,
        "capacity_steps": 500,
        "gamma": 1000.0,
    }
    chosen = TrainOptions(objective="capacity", capacity_steps=7, c_max=3.0, gamma=2.0)
    assert objective_options_of(chosen, total_steps=1000)["capacity_steps"] == 7
    assert objective_options_of(TrainOptions(objective="beta-tc"), total_steps=1000) == {}
    assert training_config(options, total_steps=1000).free_bits == 0.0
    assert training_config(TrainOptions(), total_steps=1000).free_bits == 0.5


def test_defaults_are_the_spec_quick_start() -> None:
    options = TrainOptions()
    assert (options.kl_annealing, options.beta, options.free_bits) == ("cyclical", 4.0, 0.5)
    assert check_options(options) == []


@pytest.mark.parametrize(("model", "shape"), [("mlp", (64,)), ("conv", (8, 8, 1))])
def test_digits_splits_are_shaped_for_the_model(model: str, shape: tuple[int, ...]) -> None:
    splits = load_splits(TrainOptions(model=model))  # type: ignore[arg-type]  # from the list
    assert isinstance(splits.train, np.ndarray)  # the bundled sets are held in memory
    assert splits.train.shape[1:] == shape
    assert len(splits.train) + len(splits.validation) == 1438
    assert len(splits.test) == 359
    assert splits.train.min() >= 0.0
    assert splits.train.max() <= 1.0
