"""The run folder: one writer at a time, and nothing left behind by a run that never started."""

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Final, final

from .._file_lock import FolderInUseError, FolderLock
from ..training import Callback, TrainingLoop
from ._errors import RunError

LOCK_FILE: Final = ".elbox-run.lock"
# What marks a folder as holding a run.
RUN_MARKERS: Final = ("config.json", "checkpoints")


def holds_run(folder: Path) -> bool:
    """Whether `folder` holds an elbox run."""
    return any((folder / name).exists() for name in RUN_MARKERS)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@final
class RunFolder:
    """A run folder held under an OS lock (the file `.elbox-run.lock` in it) while the run
    lives. `close` releases it; when the run failed before its first step, it first removes
    what the run created: the whole folder if it made it, the new entries otherwise.

    Made by `open_run_folder` (the process that writes), or `RunFolder.follower` (the
    other processes of a multi-process run, which neither lock nor tidy).
    """

    def __init__(
        self, path: Path, lock: FolderLock | None, *, created: bool, before: frozenset[str]
    ) -> None:
        self.path = path
        self._lock = lock
        self._created = created
        self._before = before
        self.started = False
        """Whether the run's first step has completed."""

    @classmethod
    def follower(cls, path: Path) -> "RunFolder":
        """The folder as a process other than the writer sees it."""
        return cls(path, None, created=False, before=frozenset())

    def close(self, *, failed: bool) -> None:
        """Release the folder; after a failure before the first step, tidy it first."""
        try:
            if failed and not self.started and self._lock is not None:
                if self._created:
                    shutil.rmtree(self.path, ignore_errors=True)
                else:
                    for entry in set(os.listdir(self.path)) - self._before - {LOCK_FILE}:
                        _remove(self.path / entry)
        finally:
            if self._lock is not None:
                self._lock.release()


def open_run_folder(folder: Path, *, resume: bool, overwrite: bool) -> RunFolder:
    """Create or reuse `folder` for a run, and lock it before looking inside.

    Raises:
        RunError: when the folder cannot be created, is held by another process, holds a
            run but neither `resume` nor `overwrite` is set, or holds none to resume.
    """
    if folder.exists() and not folder.is_dir():
        raise RunError(f"--output {folder} is a file, not a folder; choose a folder")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(
            f"--output {folder}: the run folder cannot be created ({error.strerror or error}); "
            "choose a folder you can write to"
        ) from None
    lock = FolderLock(folder, name=LOCK_FILE, what="the run folder")
    try:
        lock.acquire()
    except FolderInUseError as error:
        raise RunError(
            f"--output {folder} is in use by another elbox process"
            f"{'' if error.pid is None else f' (pid {error.pid})'}: wait for it to finish, "
            "or choose another --output"
        ) from None
    except OSError as error:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise RunError(
            f"--output {folder}: the run folder cannot be written to "
            f"({error.strerror or error}); choose a folder you can write to"
        ) from None
    try:
        _check_contents(folder, resume=resume, overwrite=overwrite)
    except BaseException:
        lock.release()
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    _remove_stale_temporaries(folder)
    before = frozenset(os.listdir(folder))
    return RunFolder(folder, lock, created=created, before=before)


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove the temporary files of atomic writes (`.NAME.tmp-PID`) that a process killed
    mid-write left; the folder's lock says no other process is writing them now."""
    for path in folder.glob(".*.tmp-*"):
        if path.is_file() and path.name.rsplit("-", 1)[-1].isdigit():
            path.unlink(missing_ok=True)


def _check_contents(folder: Path, *, resume: bool, overwrite: bool) -> None:
    run = holds_run(folder)
    if resume:
        if not run:
            raise RunError(f"--resume: {folder} holds no run to continue")
    elif run:
        if not overwrite:
            raise RunError(
                f"{folder} already holds a run; pass --resume to continue it or --overwrite "
                "to replace it"
            )
        for entry in os.listdir(folder):
            if entry != LOCK_FILE:
                _remove(folder / entry)


@final
class FirstStep(Callback):
    """Calls `action` once, after the first training step of a fit."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action

    def on_step_end(self, trainer: TrainingLoop, step: int, metrics: Mapping[str, float]) -> None:
        """Run the action the first time."""
        action, self._action = self._action, None
        if action is not None:
            action()


@contextlib.contextmanager
def holding(folder: Path) -> Iterator[None]:
    """Hold an existing run folder's lock for a while (`elbox eval` and `elbox plot` write
    into it); a folder that does not exist or holds no run is left untouched, to the
    caller to report. The lock file is gone again when the block ends.

    Raises:
        RunError: when another process holds the folder.
    """
    if not folder.is_dir() or not holds_run(folder):  # nothing to hold: leave it untouched
        yield
        return
    lock = FolderLock(folder, name=LOCK_FILE, what="the run folder")
    try:
        lock.acquire()
    except FolderInUseError as error:
        raise RunError(
            f"{folder} is in use by another elbox process"
            f"{'' if error.pid is None else f' (pid {error.pid})'}: wait for it to finish"
        ) from None
    except OSError:  # a folder we may read but not write: nothing to hold
        yield
        return
    try:
        yield
    finally:
        lock.release()
