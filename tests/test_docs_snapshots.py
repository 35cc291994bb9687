"""The committed output of the default `elbox train` run still matches the command.

`docs/scripts/default_run.py` runs `elbox train` with its defaults (about 20 seconds) and
commits what the docs show of it: the printed summary (`docs/snapshots/default-run.txt`),
the run folder's files (`docs/snapshots/default-run-folder.txt`) and three plots. These
tests run a two-epoch `elbox train` (in this process, through `elbox.cli.main`, which the
script's command calls) and check that the committed files have the format the command
prints and writes now, numbers aside, so a change to the command's output fails here
until the snapshot is made again.
"""

import contextlib
import importlib.util
import io
import re
from pathlib import Path
from types import ModuleType

import pytest

from elbox.cli import main

# The tests share a trained run (a module fixture): one pytest-xdist worker makes it.
pytestmark = pytest.mark.xdist_group("docs_snapshots")

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "docs" / "snapshots"
SCRIPT = ROOT / "docs" / "scripts" / "default_run.py"
SUMMARY = SNAPSHOTS / "default-run.txt"
FOLDER = SNAPSHOTS / "default-run-folder.txt"
EVAL = SNAPSHOTS / "default-run-eval.txt"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("default_run", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def masked(text: str) -> list[str]:
    """The lines of `text` with every number replaced by `#`: the format, not the values."""
    return [re.sub(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", line) for line in text.splitlines()]


def _elbox(workdir: Path, *arguments: str) -> str:
    """What `elbox ARGUMENTS` prints (stderr, then stdout) when run in `workdir`, as the
    script's command prints it; called in this process."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        errors, output = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(output):
            status = main(list(arguments))
    assert status == 0, errors.getvalue()[-3000:]
    # The progress display (stderr) is done before the summary (stdout) is printed.
    return errors.getvalue() + output.getvalue()


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A two-epoch `elbox train`, otherwise with the defaults: its output and folder."""
    workdir = tmp_path_factory.mktemp("default-run")
    output = _elbox(workdir, "train", "--epochs", "2")
    (run,) = (workdir / "runs").iterdir()
    return output, run


def test_the_script_runs_the_elbox_command() -> None:
    # What the script runs is the installed `elbox` command, which these tests call here.
    assert _script().COMMAND[-1] == "import sys; from elbox.cli import main; sys.exit(main())"


def test_the_summary_has_the_format_the_command_prints(short_run: tuple[str, Path]) -> None:
    output, _ = short_run
    printed = _script().last_epoch_and_summary(output)
    assert masked(SUMMARY.read_text()) == masked(printed), (
        "elbox train prints another summary than docs/snapshots/default-run.txt shows: run "
        "`python docs/scripts/default_run.py` and commit what it writes"
    )


def without_checkpoints(listing: str) -> list[str]:
    """The lines of a folder listing, numbers masked, without those inside `checkpoints/`
    (which checkpoints a run keeps depends on its length)."""
    kept, inside = [], False
    for line in masked(listing):
        if line.startswith("    ") and not line.startswith("        "):
            inside = line.strip() == "checkpoints/"
        elif inside and line.startswith("        "):
            continue
        kept.append(line)
    return kept


def test_the_folder_listing_has_the_files_a_run_writes(short_run: tuple[str, Path]) -> None:
    _, run = short_run
    listing = _script().folder_tree(run, run.parent.parent)
    assert without_checkpoints(FOLDER.read_text()) == without_checkpoints(listing)


def test_the_evaluation_has_the_format_elbox_eval_prints(short_run: tuple[str, Path]) -> None:
    _, run = short_run
    workdir = run.parent.parent
    printed = _elbox(workdir, "eval", str(run.relative_to(workdir)))  # as the script runs it

    def spaced(lines: list[str]) -> list[str]:  # the table's column widths follow the numbers
        return [" ".join(line.split()) for line in lines]

    assert spaced(masked(EVAL.read_text())) == spaced(masked(printed)), (
        "elbox eval prints another table than docs/snapshots/default-run-eval.txt shows: run "
        "`python docs/scripts/default_run.py` and commit what it writes"
    )


def test_the_readme_shows_the_committed_summary() -> None:
    assert SUMMARY.read_text() in (ROOT / "README.md").read_text(), (
        "README.md's first-run output differs from docs/snapshots/default-run.txt: paste "
        "the snapshot into the README"
    )


def test_the_docs_show_the_snapshot_and_its_plots() -> None:
    for page in ("index.md", "getting-started.md"):
        assert '--8<-- "default-run.txt"' in (ROOT / "docs" / page).read_text(), page
    for name in _script().PLOTS:
        assert (ROOT / "docs" / "images" / name).read_bytes().startswith(b"\x89PNG"), name


def test_checkpoints_are_left_out_of_listings() -> None:
    listing = (
        "runs/a/\n    checkpoints/\n        20/  (3 files)\n    plots/\n        x.png\n    c.json\n"
    )
    assert without_checkpoints(listing) == [
        "runs/a/",
        "    checkpoints/",
        "    plots/",
        "        x.png",
        "    c.json",
    ]


def test_numbers_are_masked() -> None:
    assert masked("epoch 150/150: loss=52.07 kl=8.037 lr=1e-3 (0.0 s)\nrun 20261127-021031") == [
        "epoch #/#: loss=# kl=# lr=# (# s)",
        "run #-#",
    ]
