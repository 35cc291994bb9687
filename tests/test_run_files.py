"""A run folder's files: written whole, read back defensively, never left locked; what
`--resume` continues with; the numbers a run reports and how it bounds its evaluation.
Each defect the reliability issue listed has a test here or in test_faults.py."""

import errno
import json
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest

from elbox import VAETrainingConfig
from elbox._atomic import write_atomic
from elbox._file_lock import FolderLock
from elbox.cli import main
from elbox.cli._analysis import end_of_run_examples
from elbox.cli._evaluation import describe_information
from elbox.cli._plot_run import weight_restarts
from elbox.training import MetricsLogError, read_metrics_log
from elbox.training import _metrics_logger as metrics_logger_module

TINY = ["--hidden", "8", "--latent", "2", "--epochs", "2", "--eval-samples", "4"]


def _elbox(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command in this process, with Python's default warning filters (as a real
    process has them; the suite's own turn every warning into an error): the tests here
    check the one-line warnings it prints, and every other line it says."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        try:
            code = main(args)
        except SystemExit as exit_info:  # argparse's own errors
            code = int(exit_info.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _said(err: str) -> list[str]:
    return [line for line in err.splitlines() if not line.startswith("epoch ")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-epoch run (40 steps), made once; tests copy it before changing it."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", *TINY, "--output", str(run)]) == 0
    return run


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


# -- metrics.jsonl: a torn last line, garbage, damage --------------------------------------


def test_a_torn_or_garbage_last_line_is_left_out_with_a_warning(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    whole = '{"kind": "step", "step": 0, "epoch": 0, "loss": 1.5}\n'
    for tail in ('{"kind": "step", "step": 1, "ep', "\x00\x17garbage\n"):
        log.write_text(whole + tail)
        with pytest.warns(RuntimeWarning) as caught:
            records = read_metrics_log(log)
        assert records == [{"kind": "step", "step": 0, "epoch": 0, "loss": 1.5}]
        assert len(caught) == 1
        assert str(caught[0].message).startswith(f"{log} line 2 is damaged (")
    log.write_text(whole + "not json\n" + whole)
    with pytest.raises(MetricsLogError, match=f"{log} line 2 is damaged: not valid JSON"):
        read_metrics_log(log)


def test_plot_is_not_blocked_by_a_torn_last_line(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = run / "metrics.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines) + "\n" + lines[-1][: len(lines[-1]) // 2])
    code, _, err = _elbox(["plot", str(run)], capsys)
    assert code == 0, err
    said = _said(err)
    assert len(said) == 1
    assert said[0].startswith(f"elbox plot: warning: {log} line {len(lines) + 1} is damaged (")
    assert said[0].endswith("as a crash while it was written leaves it; that line is left out")
    # Damage before the last line is an error naming the file and the line.
    log.write_text(lines[0] + "\n{]\n" + "\n".join(lines[1:]) + "\n")
    code, _, err = _elbox(["plot", str(run)], capsys)
    assert code == 2
    assert _said(err) == [
        f"elbox plot: error: {log} line 2 is damaged: not valid JSON (Expecting property name "
        "enclosed in double quotes at column 2); only the last line can be cut short by a "
        "crash, so the file was changed after it was written: restore it, or delete that line"
    ]


def test_resume_is_not_blocked_by_a_damaged_metrics_log(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = run / "metrics.jsonl"
    log.write_text("{]\n" + log.read_text() + '{"kind": "st')
    code, _, err = _elbox(["train", "--output", str(run), "--resume", "--epochs", "3"], capsys)
    assert code == 0, err
    records = read_metrics_log(log)  # rewritten from the checkpoint's history: whole
    assert [r["step"] for r in records if r["kind"] == "step"] == list(range(60))
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [0, 1, 2]


# -- config.json and checkpoints, damaged ---------------------------------------------------


@pytest.mark.parametrize("command", ["eval", "plot", "train"])
def test_a_damaged_config_json_is_one_line_naming_it(
    command: str, run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (run / "config.json").write_text('{"options": {"epochs": 2,\n  "beta": }')
    args = (
        [command, str(run)] if command != "train" else ["train", "--output", str(run), "--resume"]
    )
    code, _, err = _elbox(args, capsys)
    assert code == 2
    said = _said(err)
    assert len(said) == 1
    assert f"{run / 'config.json'} is damaged: not valid JSON (line 2, column 11: " in said[0]


def test_a_damaged_latest_checkpoint_is_set_aside_with_a_one_line_warning(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latest = run / "checkpoints" / "40"
    for file in latest.rglob("*"):
        if file.is_file() and file.stat().st_size > 100:
            file.write_bytes(file.read_bytes()[:10])  # truncated
    code, out, err = _elbox(["train", "--output", str(run), "--resume", "--epochs", "3"], capsys)
    assert code == 0, err
    warning = [line for line in _said(err) if "warning" in line]
    assert len(warning) == 1
    assert warning[0].startswith(
        f"elbox train: warning: checkpoint at step 40 in {run / 'checkpoints'} is damaged ("
    )
    assert "for 3 epochs (60 steps)" in out


# -- lock files and folders that are only read ----------------------------------------------


def test_a_finished_run_holds_no_lock_file(finished: Path) -> None:
    assert not list(finished.rglob("*.lock"))


@pytest.mark.parametrize("command", ["eval", "plot"])
def test_eval_and_plot_leave_nothing_in_a_folder_without_a_run(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _elbox([command, str(empty)], capsys)
    assert code == 2
    assert _said(err) == [f"elbox {command}: error: {empty} holds no elbox run (no config.json)"]
    assert list(empty.iterdir()) == []
    code, _, _ = _elbox([command, str(tmp_path / "missing")], capsys)
    assert code == 2
    assert not (tmp_path / "missing").exists()


def test_eval_of_a_run_leaves_no_lock_file(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _elbox(["eval", str(run), "--num-samples", "4", "--examples", "20"], capsys)
    assert code == 0, err
    assert not list(run.rglob("*.lock"))
    record = json.loads((run / "evaluation.json").read_text())
    assert record["bound_examples"] == 20
    summary = json.loads((run / "summary.json").read_text())
    # Epochs counted from 1 everywhere: the progress lines, the summary and eval.
    assert f"best checkpoint (epoch {summary['best_epoch']})" in out
    assert record["checkpoint_epoch"] == summary["best_epoch"]


def test_lock_files_are_deleted_when_released(tmp_path: Path) -> None:
    first = FolderLock(tmp_path, name=".lock", what="the folder")
    first.acquire()
    assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    first.release()
    assert not (tmp_path / ".lock").exists()
    # A file a killed holder left (naming a dead process) is taken over, then deleted.
    (tmp_path / ".lock").write_text("999999\n")
    second = FolderLock(tmp_path, name=".lock", what="the folder")
    second.acquire()
    assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    second.release()
    assert list(tmp_path.iterdir()) == []


# -- atomic writes and full disks -------------------------------------------------------------


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "summary.json"
    target.write_text("before")

    def full(*args: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("elbox._atomic.fault_point", full)
    with pytest.raises(OSError, match="No space left on device") as error:
        write_atomic(target, "after")
    assert error.value.filename == str(target)
    assert target.read_text() == "before"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_full_disk_while_writing_metrics_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = {"count": 0}
    write_all = metrics_logger_module._write_all

    def full_after_a_while(fd: int, data: bytes) -> None:
        calls["count"] += 1
        if calls["count"] > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write_all(fd, data)

    monkeypatch.setattr(metrics_logger_module, "_write_all", full_after_a_while)
    run = tmp_path / "run"
    code, _, err = _elbox(["train", *TINY, "--output", str(run)], capsys)
    assert code == 1
    assert _said(err) == [
        f"elbox train: error: could not write {run / 'metrics.jsonl'}: No space left on "
        "device; free some space (or choose a folder you can write to) and run the command "
        "again: `elbox train --resume` continues a run from its last checkpoint"
    ]
    assert not list(run.rglob("*.lock"))
    assert not list(run.rglob(".*.tmp-*"))


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--learning-rate", "inf"], "--learning-rate takes finite numbers"),
        (["--learning-rate", "nan"], "--learning-rate takes finite numbers"),
        (["--learning-rate", "1e39"], "--learning-rate takes finite numbers (at most 3.403e+38"),
        (["--beta", "inf"], "--beta takes finite numbers"),
        (["--free-bits", "nan"], "--free-bits takes finite numbers"),
        (["--data", "x.npy", "--split", "nan", "0.5", "0.5"], "--split takes finite numbers"),
        (
            ["--data", "x.npy", "--value-range", "1", "1"],
            "--value-range takes two finite numbers LO < HI; got 1 1",
        ),
        (["--eval-examples", "1"], "--eval-examples must be >= 2; got 1"),
    ],
)
def test_numbers_are_refused_before_anything_is_made(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    code, _, err = _elbox(["train", *flags, "--output", str(run)], capsys)
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1
    assert not run.exists()


# -- resume: the run's own options ---------------------------------------------------------


def test_resume_continues_with_the_runs_own_options(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The issue: --resume without --epochs trained to the default 150 epochs.
    code, out, err = _elbox(["train", "--output", str(run), "--resume"], capsys)
    assert code == 0, err
    assert "for 2 epochs (40 steps)" in out
    config = json.loads((run / "config.json").read_text())
    assert config["options"]["epochs"] == 2
    period = config["vae_config"]["cyclical_period"]
    assert period == 10  # a quarter of the 40 steps
    # A new length is asked for explicitly; the schedules keep their lengths, and say so.
    code, out, err = _elbox(["train", "--output", str(run), "--resume", "--epochs", "4"], capsys)
    assert code == 0, err
    assert (
        "elbox train: note: --epochs 4 changes the run's length from 2 epochs; its "
        "schedules keep the lengths they were given for 2 epochs (cyclical period 10 steps)" in err
    )
    config = json.loads((run / "config.json").read_text())
    assert (config["options"]["epochs"], config["vae_config"]["cyclical_period"]) == (4, 10)
    weights = [
        r["kl_weight"] for r in read_metrics_log(run / "metrics.jsonl") if r["kind"] == "step"
    ]
    assert len(weights) == 80
    assert [i for i, w in enumerate(weights) if w == 0.0] == [0, 10, 20, 30, 40, 50, 60, 70]
    # Options that change what the run computes stay refused.
    code, _, err = _elbox(["train", "--output", str(run), "--resume", "--beta", "2"], capsys)
    assert code == 2
    assert "--beta 4.0 -> 2.0" in err


# -- what a run reports ----------------------------------------------------------------------


def test_the_best_epoch_is_numbered_as_the_progress_lines_number_it(
    finished: Path,
) -> None:
    epochs = [r for r in read_metrics_log(finished / "metrics.jsonl") if r["kind"] == "epoch"]
    best = min(range(len(epochs)), key=lambda i: epochs[i]["val_neg_elbo"])
    summary = json.loads((finished / "summary.json").read_text())
    assert summary["best_epoch"] == best + 1  # the line "epoch {best + 1}/2: ..."


def test_mutual_information_is_reported_within_its_bounds(finished: Path) -> None:
    test = json.loads((finished / "summary.json").read_text())["test"]
    low, high = test["mutual_information_bounds"]
    assert (low, high) == (0.0, pytest.approx(math.log(test["bound_examples"])))
    assert low <= test["mutual_information"] <= high
    # The run printed -0.24 nats: now 0, with the estimate and its bounds beside.
    record = {
        "mutual_information": 0.0,
        "mutual_information_estimate": -0.24,
        "mutual_information_bounds": [0.0, math.log(10_000)],
    }
    assert describe_information(record) == (
        "0.00 nats (estimate -0.24, bounded by 0 and log N = 9.21)"
    )


def test_the_end_of_run_bound_costs_about_what_training_did() -> None:
    # The default digits run: the whole test split.
    assert end_of_run_examples(359, 1000, epochs=150, train_examples=1150) == 359
    # The 130,000 images, one epoch: 312 examples, not 10,000.
    assert end_of_run_examples(13_000, 1000, epochs=1, train_examples=104_000) == 312
    assert end_of_run_examples(13_000, 1000, epochs=1, train_examples=10) == 100
    assert end_of_run_examples(13_000, 10, epochs=100, train_examples=100_000) == 10_000


def test_validation_points_at_a_cyclical_restart_are_marked() -> None:
    epochs: list[dict[str, Any]] = [{"step": step} for step in range(20, 161, 20)]
    config = VAETrainingConfig(kl_annealing="cyclical", cyclical_period=40)
    assert weight_restarts(config, epochs) == [40.0, 80.0, 120.0, 160.0]
    assert weight_restarts(VAETrainingConfig(kl_annealing="linear"), epochs) == []
