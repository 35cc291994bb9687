"""`elbox train --data`: each format end to end, bad data refused, config files, loop flags,
and errors reported in one line with the right exit status."""

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from elbox.cli import main
from elbox.cli._config_file import read_config_file
from elbox.cli._errors import RunError
from elbox.data import DataSplit
from elbox.training import Callback, CheckpointStore, Trainer

SMALL = ["--epochs", "2", "--batch-size", "8", "--hidden", "32", "--latent", "4"]


def _elbox(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`elbox ARGS` in this process: its exit status, stdout and stderr."""
    try:
        code = main(args)
    except SystemExit as exit_info:  # argparse's own errors
        code = int(exit_info.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _blobs(count: int, size: int, seed: int) -> npt.NDArray[np.float64]:
    """`count` greyscale images in [0, 1]: one bright square each, at a random place."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, size, size))
    for image in images:
        top, left = rng.integers(0, size - 3, 2)
        image[top : top + 3, left : left + 3] = 1.0
    return images


def _write_format(kind: str, folder: Path) -> Path:
    """60 tiny examples stored as `kind`; the path to pass to --data."""
    images = _blobs(60, 8, seed=1)
    if kind == "npy":
        path = folder / "blobs.npy"
        np.save(path, images.astype(np.float32))
    elif kind == "npz":
        path = folder / "blobs.npz"
        np.savez(path, images=(images * 255).astype(np.uint8), labels=np.arange(60))
    else:
        path = folder / "blobs"
        path.mkdir()
        colours = np.array([255, 128, 0], np.uint8)
        for index, image in enumerate(images):
            rgb = (image[..., None] * colours).astype(np.uint8)
            Image.fromarray(rgb).save(path / f"{index:03d}.png")
    return path


@pytest.mark.parametrize(
    ("kind", "extra", "likelihood"),
    [
        ("npy", [], "continuous_bernoulli"),
        ("npz", ["--data-key", "images", "--framework", "equinox"], "continuous_bernoulli"),
        ("images", ["--model", "conv", "--split", "0.7", "0.15", "0.15"], "continuous_bernoulli"),
    ],
)
def test_each_format_trains_end_to_end(
    kind: str,
    extra: list[str],
    likelihood: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = _write_format(kind, tmp_path)
    run = tmp_path / "run"
    code, out, err = _elbox(
        ["train", "--data", str(data), *SMALL, *extra, "--output", str(run)], capsys
    )
    assert code == 0, err[-3000:]
    assert f"on {data.absolute()} for 2 epochs" in out
    config = json.loads((run / "config.json").read_text())
    # Chosen from the data's range: the density of [0, 1].
    assert config["options"]["likelihood"] == likelihood
    assert config["data"]["num_examples"] == 60
    assert config["data"]["example_shape"] == [8, 8, 3 if kind == "images" else 1]
    split = DataSplit.load(run / "split.npz")
    expected = (42, 9, 9) if kind == "images" else (48, 6, 6)
    assert (len(split.train), len(split.validation), len(split.test)) == expected
    steps = [r for r in _records(run) if r["kind"] == "step"]
    assert len(steps) == 2 * (expected[0] // 8)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["num_examples"] == expected[2]
    for name in ("training_curves", "reconstructions", "samples"):
        assert (run / "plots" / f"{name}.png").stat().st_size > 1000

    # `elbox eval` reads the saved split back: the same test examples, the same numbers.
    code, out, err = _elbox(["eval", str(run)], capsys)
    assert code == 0, err[-3000:]
    neg_elbo = f"{summary['test']['neg_elbo']:.2f}"
    assert re.search(rf"test negative ELBO +{neg_elbo} +nats per example", out)


def test_data_outside_the_unit_interval_trains_with_mse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = np.random.default_rng(0).normal(3.0, 2.0, (50, 6)).astype(np.float32)
    np.save(tmp_path / "vectors.npy", values)
    run = tmp_path / "run"
    code, _, err = _elbox(
        ["train", "--data", str(tmp_path / "vectors.npy"), *SMALL, "--output", str(run)], capsys
    )
    assert code == 0, err[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["options"]["loss_type"] == "mse"
    assert config["data"]["value_range"] == [float(values.min()), float(values.max())]
    assert config["image_shape"] == [1, 6, 1]  # vectors are drawn as strips


# -- bad data: exit status 2, one line naming the problem, no run folder ---------------------


def _bad_data(kind: str, folder: Path) -> Path:
    rng = np.random.default_rng(0)
    if kind == "missing":
        return folder / "missing.npy"
    if kind == "key":
        np.savez(folder / "two.npz", a=np.zeros((30, 4)), b=np.zeros((30, 4)))
        return folder / "two.npz"
    if kind == "few":
        np.save(folder / "few.npy", rng.uniform(size=(12, 4)))
        return folder / "few.npy"
    if kind == "sizes":
        (folder / "sizes").mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "sizes" / "a.png")
        Image.fromarray(np.zeros((12, 8), np.uint8)).save(folder / "sizes" / "b.png")
        return folder / "sizes"
    if kind == "not-images":
        (folder / "mixed").mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "mixed" / "a.png")
        (folder / "mixed" / "readme.txt").write_text("x")
        return folder / "mixed"
    if kind == "nan":
        values = rng.uniform(size=(30, 4))
        values[[3, 17], 1] = np.nan
        values[20, 0] = np.inf
        np.save(folder / "nan.npy", values)
        return folder / "nan.npy"
    np.save(folder / "text.npy", np.array([["a", "b"]] * 30))
    return folder / "text.npy"


@pytest.mark.parametrize(
    ("kind", "extra", "message"),
    [
        ("missing", [], r"no such file or folder: .*missing\.npy"),
        ("key", ["--data-key", "c"], r"two\.npz has no array 'c'; its arrays: 'a', 'b'"),
        ("key", [], r"two\.npz holds 2 arrays \('a', 'b'\); name the one to train on"),
        ("few", [], r"splitting 12 examples 0\.8 / 0\.1 / 0\.1 leaves 1 for validation"),
        ("sizes", [], r"differ in size: a\.png is 8x8 and b\.png is 12x8"),
        ("not-images", [], r"files that are not PNG or JPEG images: readme\.txt"),
        ("nan", [], r"holds 3 NaN or infinite values; the first at index \(3, 1\)"),
        ("text", [], r"holds text \(dtype <U1\), not real numbers"),
        ("sizes", ["--image-size", "6", "6", "--model", "conv"], r"multiples of 4"),
    ],
)
def test_bad_data_is_refused_before_training(
    kind: str,
    extra: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _bad_data(kind, tmp_path)
    run = tmp_path / "run"
    code, _, err = _elbox(["train", "--data", str(path), *extra, "--output", str(run)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("elbox train: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert not run.exists()


# -- errors: one line, exit 2 for a user's mistake, 1 for a fault, --debug for the traceback ---


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "5000"], "--batch-size 5000 is larger than the 1295 training examples"),
        (["--output", "/proc/elbox-run"], "--output /proc/elbox-run: the run folder cannot be"),
        (["--log", "wandb", "--log", "wandb"], "--log names each logger once"),
        (["--split", "0.5", "0.25", "0.25"], "--split applies to --data"),
        (["--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
    ],
)
def test_a_users_mistake_is_one_line_and_status_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    output = [] if "--output" in args else ["--output", str(run)]
    code, _, err = _elbox(["train", *args, *output], capsys)
    assert code == 2
    assert err.count("\n") == 1, err
    assert message in err
    assert not run.exists()


@pytest.mark.process  # what a user sees from the installed command: no traceback, status 2
def test_no_traceback_in_a_fresh_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "elbox.cli", "train", "--batch-size", "5000"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "elbox train: error: --batch-size 5000 is larger than the 1295 training examples of "
        "digits; use --batch-size 1295 or less"
    ]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_fault_is_status_1_and_debug_shows_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from elbox.training import Trainer

    def broken_fit(self: Trainer, *args: object, **kwargs: object) -> None:
        raise RuntimeError("the device fell over")

    monkeypatch.setattr(Trainer, "fit", broken_fit)
    run = tmp_path / "run"
    code, _, err = _elbox(["train", *SMALL, "--output", str(run)], capsys)
    assert code == 1
    assert err.strip().splitlines() == [
        "elbox train: error: RuntimeError: the device fell over (rerun with --debug for the "
        "traceback)"
    ]
    assert not run.exists()  # it failed before its first step: no half-made run folder
    code, _, err = _elbox(["train", *SMALL, "--output", str(run), "--debug"], capsys)
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert 'raise RuntimeError("the device fell over")' in err


def test_a_failed_resume_leaves_the_run_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    code, _, err = _elbox(["train", *SMALL, "--output", str(run)], capsys)
    assert code == 0, err[-3000:]
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}

    from elbox.training import Trainer

    def broken_fit(self: Trainer, *args: object, **kwargs: object) -> None:
        raise MemoryError("out of memory")

    monkeypatch.setattr(Trainer, "fit", broken_fit)
    resume = ["train", *SMALL[2:], "--epochs", "4", "--output", str(run), "--resume"]
    code, _, err = _elbox(resume, capsys)
    assert code == 1
    assert "MemoryError: out of memory" in err
    after = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    assert after == before


# -- config files ------------------------------------------------------------------------------


def test_config_file_with_flags_overriding_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "blobs.npy", _blobs(60, 8, seed=2).astype(np.float32))
    (tmp_path / "experiment.toml").write_text(
        'data = "blobs.npy"\n'  # relative to the file's folder
        "epochs = 5\n"
        "batch-size = 8\n"
        "hidden = 32\n"
        "latent = 3\n"
        'kl_annealing = "linear"\n'
        "split = [0.6, 0.2, 0.2]\n"
        "beta = 2\n"
    )
    run = tmp_path / "run"
    config = str(tmp_path / "experiment.toml")
    code, _, err = _elbox(
        ["train", "--config", config, "--epochs", "1", "--output", str(run)], capsys
    )
    assert code == 0, err[-3000:]
    options = json.loads((run / "config.json").read_text())["options"]
    assert options["epochs"] == 1  # the flag wins
    assert (options["latent"], options["kl_annealing"], options["beta"]) == (3, "linear", 2.0)
    assert options["split"] == [0.6, 0.2, 0.2]
    assert options["data"] == str(tmp_path / "blobs.npy")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epoch = 3\n", "unknown option 'epoch' (did you mean 'epochs'?)"),
        ('epochs = "three"\n', "option 'epochs' takes an integer; got 'three' (str)"),
        ('model = "resnet"\n', "option 'model' takes one of 'mlp', 'conv'; got 'resnet'"),
        ("epochs = [\n", "not valid TOML"),
        ('resume = "yes"\n', "option 'resume' takes true or false; got 'yes' (str)"),
        ("learning_rate = true\n", "option 'learning_rate' takes a number; got True (bool)"),
        ("data_key = 3\n", "option 'data_key' takes a string; got 3 (int)"),
        ('data = ""\n', "option 'data' takes a path (a string); got '' (str)"),
        ("split = [0.5, 0.5]\n", "option 'split' takes a list of 3 of float; got [0.5, 0.5]"),
        ("log = 3\n", "option 'log' takes a list of names; got 3 (int)"),
        ("epochs = { a = 1 }\n", "option 'epochs' takes a value, not a table"),
    ],
)
def test_bad_config_files(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.toml").write_text(text)
    code, _, err = _elbox(["train", "--config", str(tmp_path / "bad.toml")], capsys)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", "{", "not valid JSON (line 1, column 2: "),
        ("bad.json", "[1, 2]", "expected a table of options; got list"),
        ("bad.json", '{"epochs": null}', "option 'epochs' cannot be empty"),
        ("folder.toml", None, "cannot read the file: Is a directory"),
    ],
)
def test_bad_config_json_and_unreadable_files(
    name: str, text: str | None, message: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    if text is None:
        path.mkdir()
    else:
        path.write_text(text)
    with pytest.raises(RunError) as raised:
        read_config_file(path)
    assert str(raised.value).startswith(f"--config {path}: ")
    assert message in str(raised.value)


def test_an_empty_optional_option_in_json_is_its_default(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"output": null, "epochs": 3, "split": [0.5, 0.25, 0.25]}')
    assert read_config_file(tmp_path / "run.json") == {
        "output": None,
        "epochs": 3,
        "split": (0.5, 0.25, 0.25),
    }


def test_config_json_repeats_a_run_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    args = [*SMALL, "--kl-annealing", "sigmoid", "--beta", "2", "--seed", "7"]
    code, _, err = _elbox(["train", *args, "--output", str(first)], capsys)
    assert code == 0, err[-3000:]
    config = str(first / "config.json")
    code, _, err = _elbox(["train", "--config", config, "--output", str(second)], capsys)
    assert code == 0, err[-3000:]
    saved = [json.loads((run / "config.json").read_text()) for run in (first, second)]
    assert {k: v for k, v in saved[0]["options"].items() if k != "output"} == {
        k: v for k, v in saved[1]["options"].items() if k != "output"
    }
    timing = ("seconds", "steps_per_second")
    numbers = [
        [{k: v for k, v in record.items() if k not in timing} for record in _records(run)]
        for run in (first, second)
    ]
    assert numbers[0] == numbers[1]  # every step's and epoch's numbers, exactly
    summaries = [json.loads((run / "summary.json").read_text()) for run in (first, second)]
    assert summaries[0]["test"] == summaries[1]["test"]


# -- the loop's options ----------------------------------------------------------------------


class _DispatchSpy(Callback):
    """Records, as each step's metrics reach the loop, how many steps the VAE had been
    given by then: the steps of one dispatch come back together, at one count."""

    def __init__(self, vae: Any) -> None:
        self.vae = vae
        self.counts: list[int] = []

    def on_step_end(self, trainer: Any, step: int, metrics: Mapping[str, float]) -> None:
        self.counts.append(self.vae.step)


def test_loop_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spies: list[_DispatchSpy] = []
    init = Trainer.__init__

    def spied(self: Trainer, vae: Any, *args: Any, callbacks: Any = (), **kwargs: Any) -> None:
        spies.append(_DispatchSpy(vae))
        init(self, vae, *args, callbacks=[*callbacks, spies[-1]], **kwargs)

    monkeypatch.setattr(Trainer, "__init__", spied)
    # With a learning rate this small nothing is learned: the validation loss moves by its
    # sampling noise alone, and a patience of 1 stops at the first epoch that is no better.
    run = tmp_path / "run"
    args = [
        *SMALL,
        "--epochs",
        "12",
        "--batch-size",
        "64",
        "--learning-rate",
        "1e-30",
        "--early-stopping",
        "1",
        "--steps-per-dispatch",
        "4",
        "--checkpoint-every",
        "2",
        "--keep-checkpoints",
        "1",
    ]
    code, _, err = _elbox(["train", *args, "--output", str(run)], capsys)
    assert code == 0, err[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    epochs = summary["epochs"]
    assert epochs < 12
    assert "val_neg_elbo" in summary["stop_reason"]
    steps = [r["step"] for r in _records(run) if r["kind"] == "step"]
    assert steps == list(range(20 * epochs))  # 20 steps per epoch, run 4 per dispatch
    # --steps-per-dispatch 4: the steps came back in fours, each when the VAE had been
    # given a whole number of dispatches of 4 steps (dispatched one by one, a step would
    # come back at a count of its own: 3, 4, 5, ...).
    (spy,) = spies
    assert len(spy.counts) == 20 * epochs
    assert all(count % 4 == 0 for count in spy.counts), spy.counts
    assert all(size % 4 == 0 for size in Counter(spy.counts).values()), spy.counts
    with CheckpointStore(run / "checkpoints") as store:
        saved = store.steps()
    # Saved every second epoch and after the last; kept: the newest and the best.
    assert 20 * epochs in saved
    assert set(saved) <= {40, 80, 120, 160, 200, 20 * epochs}
    assert len(saved) <= 2
