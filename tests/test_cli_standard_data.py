"""`elbox train / eval / study --dataset NAME` on the standard data sets: dSprites end to end
on a small file in the published format, the standard splits of every set, where the data
folder is, and missing files reported in one line without any connection."""

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import elbox.cli._disentanglement as disentanglement_module
from elbox.cli import main
from elbox.cli._disentanglement import Budget
from elbox.cli._options import TrainOptions
from elbox.cli._splits import load_splits
from elbox.cli._standard_sets import held_out_split
from elbox.cli._study import plan_study
from elbox.cli._study._report import read_rows

from .standard_files import (
    cifar_fixture,
    mnist_files,
    register,
    write_amat,
    write_dsprites,
)

TINY = ["--framework", "equinox", "--hidden", "16", "--latent", "3", "--epochs", "1"]
DSPRITES = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
SIX_SCORES = [
    "mig",
    "sap",
    "modularity",
    "dci_disentanglement",
    "dci_completeness",
    "dci_informativeness",
    "factor_vae",
    "beta_vae",
]
SMALL_BUDGET = Budget(
    points=200, train=60, test=30, vote_train=40, vote_eval=20, variance_points=100
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data folder holding a small dSprites `.npz` (192 images), registered as the
    published file for this module's tests, and the disentanglement scores on a budget
    that suits it."""
    folder = tmp_path_factory.mktemp("data")
    path = write_dsprites(folder / "dsprites" / DSPRITES)
    with pytest.MonkeyPatch.context() as patch:
        register(patch, "dsprites", {"archive": path})
        patch.setattr(disentanglement_module, "DEFAULT_BUDGET", SMALL_BUDGET)
        patch.delenv("ELBOX_DATA", raising=False)
        patch.delenv("ELBOX_NO_DOWNLOAD", raising=False)
        yield folder


@pytest.fixture(scope="module")
def dsprites_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "dsprites"
    arguments = ["--dataset", "dsprites", "--data-dir", str(data_dir), "--batch-size", "16"]
    assert main(["train", *TINY, *arguments, "--output", str(run)]) == 0
    return run


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        self.close()
        raise AssertionError(f"a connection to {address} was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_train_on_dsprites_end_to_end(dsprites_run: Path, data_dir: Path) -> None:
    config = json.loads((dsprites_run / "config.json").read_text())
    assert config["options"]["dataset"] == "dsprites"
    assert config["options"]["data_dir"] == str(data_dir)
    assert config["image_shape"] == [64, 64, 1]
    summary = json.loads((dsprites_run / "summary.json").read_text())
    # 192 images: 19 validation, 19 test, 154 training, 9 steps of 16.
    assert (summary["epochs"], summary["steps"]) == (1, 9)
    assert summary["test"]["num_examples"] == 19
    assert np.isfinite(summary["last_epoch_val_neg_elbo"])
    assert (dsprites_run / "plots" / "reconstructions.png").stat().st_size > 1000


def test_eval_gives_a_dsprites_run_the_six_disentanglement_scores(
    dsprites_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["eval", str(dsprites_run), "--num-samples", "2"]) == 0
    out = capsys.readouterr().out
    record = json.loads((dsprites_run / "evaluation.json").read_text())
    assert sorted(record["disentanglement"]) == sorted(SIX_SCORES)
    assert all(0.0 <= value <= 1.0 for value in record["disentanglement"].values())
    assert record["disentanglement_budget"]["points"] == SMALL_BUDGET.points
    for name in ("mig", "factor vae", "beta vae", "dci disentanglement"):
        assert name in out


def test_eval_reads_the_data_where_it_is_told(
    dsprites_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_connections: list[object],
) -> None:
    empty = tmp_path / "elsewhere"
    arguments = ["--metrics", "active_units", "--data-dir", str(empty), "--no-download"]
    assert main(["eval", str(dsprites_run), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"elbox eval: error: {DSPRITES} of dsprites is missing and downloads are off"
    )
    assert f"put the file in {empty}/dsprites/;" in err
    assert err.count("\n") == 1
    assert no_connections == []


def test_the_standard_splits(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, arrays = mnist_files(tmp_path / "mnist")
    register(monkeypatch, "mnist", paths)
    splits = load_splits(TrainOptions(dataset="mnist", data_dir=tmp_path))
    # 7 training images: the last 10% (at least one) validate.
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (6, 1, 3)
    assert splits.image_shape == (28, 28, 1)
    np.testing.assert_array_equal(
        np.rint(splits.validation[:] * 255), arrays["train_images"][6:].reshape(1, 784)
    )
    images = np.random.default_rng(0).integers(0, 2, (6, 784), dtype=np.uint8)
    names = {"train": "train", "validation": "valid", "test": "test"}
    amat = {
        split: write_amat(tmp_path / "binarized_mnist" / f"binarized_mnist_{name}.amat", images)
        for split, name in names.items()
    }
    register(monkeypatch, "binarized_mnist", amat)
    options = TrainOptions(dataset="binarized_mnist", data_dir=tmp_path, model="conv")
    splits = load_splits(options)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (6, 6, 6)
    assert splits.validation[:2].shape == (2, 28, 28, 1)
    dsprites = load_splits(TrainOptions(dataset="dsprites", data_dir=data_dir))
    assert (len(dsprites.train), len(dsprites.validation), len(dsprites.test)) == (154, 19, 19)
    train, validation, test = held_out_split(737_280)
    assert (len(train), len(validation), len(test)) == (717_280, 10_000, 10_000)
    assert len(np.union1d(np.union1d(train, validation), test)) == 737_280


def test_cifar10_splits_for_a_convolutional_vae(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture = cifar_fixture(tmp_path / "data" / "cifar10" / "cifar-10-binary.tar.gz")
    register(monkeypatch, "cifar10", {"archive": fixture.path})
    monkeypatch.setenv("ELBOX_DATA", str(tmp_path / "data"))  # the data folder from the env
    splits = load_splits(TrainOptions(dataset="cifar10", model="conv"))
    # 15 training images: 14 train, the last (10%) validates; 3 test.
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (14, 1, 3)
    assert splits.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(
        np.rint(splits.test[:] * 255).astype(np.uint8), fixture.test_images
    )
    mlp = load_splits(TrainOptions(dataset="cifar10", model="mlp"))
    assert mlp.validation[:].shape == (1, 32 * 32 * 3)


def test_a_missing_file_is_one_line_exit_2_and_no_connection(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_connections: list[object],
) -> None:
    monkeypatch.delenv("ELBOX_NO_DOWNLOAD", raising=False)
    run = tmp_path / "run"
    empty = tmp_path / "empty"
    arguments = ["--dataset", "mnist", "--data-dir", str(empty), "--output", str(run)]
    assert main(["train", *TINY, *arguments, "--no-download"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "elbox train: error: train-images-idx3-ubyte.gz of mnist is missing and downloads are "
        f"off (--no-download, ELBOX_NO_DOWNLOAD or download=False): put the file in "
        f"{empty}/mnist/; it is published at http://yann.lecun.com/exdb/mnist/"
        "train-images-idx3-ubyte.gz (or https://ossci-datasets.s3.amazonaws.com/mnist/"
        "train-images-idx3-ubyte.gz, https://storage.googleapis.com/cvdf-datasets/mnist/"
        "train-images-idx3-ubyte.gz)\n"
    )
    monkeypatch.setenv("ELBOX_NO_DOWNLOAD", "1")
    assert main(["train", *TINY, *arguments]) == 2
    assert "downloads are off" in capsys.readouterr().err
    assert no_connections == []
    assert not run.exists()
    assert not empty.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--data-dir", "x"], "--data-dir applies to the standard data sets (--dataset mnist,"),
        (["--dataset", "shapes", "--no-download"], "--no-download applies to the standard"),
        (["--dataset", "svhn"], "argument --dataset: invalid choice: 'svhn'"),
    ],
)
def test_data_folder_options_apply_to_standard_sets_only(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *arguments])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_beta_study_on_dsprites_follows_the_published_protocol(tmp_path: Path) -> None:
    plan = plan_study("beta", seeds=3, epochs=None, grid=[], output=tmp_path, dataset="dsprites")
    labels = [setting.label for setting in plan.settings]
    assert labels == [
        "beta=1.0",
        "beta=2.0",
        "beta=4.0",
        "beta=6.0",
        "beta=8.0",
        "beta=16.0",
        "capacity, c_max=25",
        "beta-tc, beta=6",
    ]
    options = plan.options["beta=4.0"]
    assert (options.dataset, options.model, options.latent) == ("dsprites", "conv", 10)
    assert (options.learning_rate, options.batch_size, options.kl_annealing) == (1e-4, 64, "none")
    assert plan.epochs == 27
    assert plan.measures == "disentanglement"
    # 27 epochs of the 717,280 training images in batches of 64: about 300,000 steps.
    assert pytest.approx(300_000, rel=0.01) == 27 * (717_280 // 64)
    with pytest.raises(
        Exception,
        match="needs ground-truth factors: use shapes_grid, shapes_grid_upright or dsprites",
    ):
        plan_study("beta", seeds=1, epochs=1, grid=[], output=tmp_path, dataset="mnist")


def test_a_study_on_dsprites_runs(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "study"
    grid = ["--grid", "beta=4", "--grid", "latent=3", "--grid", "hidden=16"]
    arguments = ["--dataset", "dsprites", "--data-dir", str(data_dir), "--seeds", "1"]
    command = ["study", "grid", *grid, *arguments, "--epochs", "1", "--output", str(folder)]
    assert main(command) == 0
    rows = read_rows(folder / "study.csv")
    assert [row["setting"] for row in rows] == ["beta=4.0, latent=3, hidden=16"]
    for row in rows:
        assert 0.0 <= row["mig"] <= 1.0
        assert 0.0 <= row["factor_vae"] <= 1.0
    assert "mutual information gap" in (folder / "study.md").read_text()
