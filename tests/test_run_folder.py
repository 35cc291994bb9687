"""The run folder: refused where it cannot be one, replaced only on --overwrite, and
tidied after a run that failed before its first step."""

from pathlib import Path

import pytest

from elbox.cli._errors import RunError
from elbox.cli._run_folder import LOCK_FILE, open_run_folder


def test_a_file_or_an_uncreatable_folder_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("not a folder")
    with pytest.raises(RunError, match="is a file, not a folder") as raised:
        open_run_folder(file, resume=False, overwrite=False)
    assert str(raised.value) == f"--output {file} is a file, not a folder; choose a folder"
    under_a_file = file / "run"
    with pytest.raises(RunError, match="cannot be created") as raised:
        open_run_folder(under_a_file, resume=False, overwrite=False)
    assert str(raised.value) == (
        f"--output {under_a_file}: the run folder cannot be created (Not a directory); "
        "choose a folder you can write to"
    )
    assert file.read_text() == "not a folder"


def test_overwrite_replaces_the_run_and_never_follows_a_link(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints" / "20").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    kept = tmp_path / "elsewhere"
    kept.mkdir()
    (kept / "data.npy").write_text("keep")
    (run / "data").symlink_to(kept, target_is_directory=True)
    with pytest.raises(RunError, match="already holds a run; pass --resume"):
        open_run_folder(run, resume=False, overwrite=False)
    folder = open_run_folder(run, resume=False, overwrite=True)
    try:
        assert sorted(path.name for path in run.iterdir()) == [LOCK_FILE]
        assert (kept / "data.npy").read_text() == "keep"  # the link removed, not its target
    finally:
        folder.close(failed=False)


def test_a_run_that_fails_before_its_first_step_removes_only_what_it_made(
    tmp_path: Path,
) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("the user's")
    folder = open_run_folder(existing, resume=False, overwrite=False)
    (existing / "config.json").write_text("{}")
    (existing / "checkpoints").mkdir()
    folder.close(failed=True)
    assert sorted(path.name for path in existing.iterdir()) == ["notes.txt"]

    made = tmp_path / "made"
    folder = open_run_folder(made, resume=False, overwrite=False)
    (made / "config.json").write_text("{}")
    folder.close(failed=True)
    assert not made.exists()

    started = tmp_path / "started"
    folder = open_run_folder(started, resume=False, overwrite=False)
    (started / "config.json").write_text("{}")
    folder.started = True
    folder.close(failed=True)  # after the first step, everything stays for --resume
    assert (started / "config.json").exists()
