"""Run `elbox train` with its defaults and keep what the docs show of the run.

    python docs/scripts/default_run.py

The default run takes about 20 seconds on a 2-core CPU, too long to repeat at every docs
build, so its output is committed instead. Run this script after a change to what
`elbox train` trains or prints, and commit the files it writes:

- `docs/snapshots/default-run.txt`: what the run printed for its last epoch, and the
  summary after it (the home page, Getting started and the README show it);
- `docs/snapshots/default-run-folder.txt`: the files of the run folder;
- `docs/snapshots/default-run-eval.txt`: what `elbox eval` prints for the run (the
  evaluation guide shows it);
- `docs/images/training_curves.png`, `reconstructions.png` and `samples.png`: three of the
  run's plots, as the run drew them.

The run happens in a temporary folder, exactly as a user would start it there: the
`elbox` command with no options. `tests/test_docs_snapshots.py` checks that the committed
summary has the format `elbox train` prints now, and that the README shows it unchanged.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
SNAPSHOTS = DOCS / "snapshots"
IMAGES = DOCS / "images"
SUMMARY = SNAPSHOTS / "default-run.txt"
FOLDER = SNAPSHOTS / "default-run-folder.txt"
EVAL = SNAPSHOTS / "default-run-eval.txt"
PLOTS = ("training_curves.png", "reconstructions.png", "samples.png")
# `elbox train`, as the installed command runs it, with the given arguments.
COMMAND = [
    sys.executable,
    "-c",
    "import sys; from elbox.cli import main; sys.exit(main())",
]


def last_epoch_and_summary(output: str) -> str:
    """The run's last per-epoch line and every line after it (the summary)."""
    lines = output.rstrip().splitlines()
    last = max(
        index for index, line in enumerate(lines) if line.startswith("epoch ")
    )
    return "\n".join(lines[last:]) + "\n"


def folder_tree(folder: Path, base: Path, depth: int = 2) -> str:
    """The files of `folder` as an indented tree, `depth` levels deep; deeper levels are
    summarised by their number of files."""
    lines = [f"{folder.relative_to(base).as_posix()}/"]

    def walk(path: Path, level: int) -> None:
        entries = [e for e in path.iterdir() if not e.name.startswith(".")]
        # Hidden lock files (.elbox-run.lock) are left out, as `ls` leaves them out.
        for entry in sorted(
            entries, key=lambda entry: (entry.is_file(), entry.name)
        ):
            indent = "    " * level
            if entry.is_dir():
                if level < depth:
                    lines.append(f"{indent}{entry.name}/")
                    walk(entry, level + 1)
                else:
                    count = sum(
                        1 for item in entry.rglob("*") if item.is_file()
                    )
                    lines.append(f"{indent}{entry.name}/  ({count} files)")
            else:
                lines.append(f"{indent}{entry.name}")

    walk(folder, 1)
    return "\n".join(lines) + "\n"


def _elbox(workdir: Path, *arguments: str) -> str:
    """What `elbox ARGUMENTS` prints (stdout and stderr) when run in `workdir`; the script
    stops with that output when the command fails."""
    done = subprocess.run(
        [*COMMAND, *arguments],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(
            f"elbox {arguments[0]} failed ({done.returncode}):\n{done.stdout}"
        )
    return done.stdout


def evaluation(run: Path, workdir: Path) -> str:
    """What `elbox eval RUN` prints, with the run folder named relative to `workdir`."""
    return _elbox(workdir, "eval", str(run.relative_to(workdir)))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="elbox-default-run-") as directory:
        workdir = Path(directory)
        printed = _elbox(workdir, "train")
        (run,) = (workdir / "runs").iterdir()
        SNAPSHOTS.mkdir(exist_ok=True)
        SUMMARY.write_text(last_epoch_and_summary(printed))
        FOLDER.write_text(folder_tree(run, workdir))
        EVAL.write_text(evaluation(run, workdir))
        for name in PLOTS:
            shutil.copyfile(run / "plots" / name, IMAGES / name)
    for path in (SUMMARY, FOLDER, EVAL, *(IMAGES / name for name in PLOTS)):
        print(path.relative_to(DOCS.parent))
    print(SUMMARY.read_text(), end="")


if __name__ == "__main__":
    main()
