"""One writer per folder: the OS lock, and ModelCheckpoint holding its folder for a fit."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from elbox._file_lock import FolderInUseError, FolderLock
from elbox.data import batches
from elbox.training import CheckpointConfig, CheckpointError, ModelCheckpoint, Trainer

from .helpers import make_trainer, patterns


def _wait_for(condition: object, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not callable(condition) or not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_second_lock_refuses_and_names_the_holder(tmp_path: Path) -> None:
    first = FolderLock(tmp_path, name=".lock", what="the folder")
    first.acquire()
    assert first.held
    assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    second = FolderLock(tmp_path, name=".lock", what="the folder")
    with pytest.raises(FolderInUseError, match=rf"in use by another process \(pid {os.getpid()}\)"):
        second.acquire()
    assert not second.held
    # A lock on another file of the same folder is independent.
    other = FolderLock(tmp_path, name=".other.lock", what="the folder")
    other.acquire()
    other.release()
    first.release()
    second.acquire()  # free again
    second.release()
    second.release()  # harmless


@pytest.mark.process  # the lock of a process killed with SIGKILL
def test_a_killed_holder_leaves_the_lock_free(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from elbox._file_lock import FolderLock; "
            "FolderLock(sys.argv[1], name='.lock', what='x').acquire(); "
            "print('locked', flush=True); time.sleep(600)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        lock = FolderLock(tmp_path, name=".lock", what="the folder")
        with pytest.raises(FolderInUseError) as refused:
            lock.acquire()
        assert refused.value.pid == holder.pid
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
        lock.acquire()  # the kernel released the dead process's lock
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_model_checkpoint_holds_its_folder_during_a_fit(tmp_path: Path) -> None:
    data = np.asarray(patterns(64), np.float32)
    folder = tmp_path / "ckpt"
    writer = ModelCheckpoint(CheckpointConfig(dirpath=folder))
    first = Trainer(make_trainer("equinox"), callbacks=[writer])
    writer.setup(first)  # as fit does: the folder is now held
    intruder = make_trainer("equinox")
    with pytest.raises(CheckpointError, match=rf"checkpoint folder {folder} is in use") as error:
        Trainer(intruder, callbacks=[ModelCheckpoint(CheckpointConfig(dirpath=folder))]).fit(
            batches(data, 16), epochs=1
        )
    assert f"(pid {os.getpid()})" in str(error.value)
    assert intruder.step == 0  # refused before any step
    writer.teardown(first)
    # Released by teardown: the next fit writes there, and releases it when it ends.
    Trainer(make_trainer("equinox"), callbacks=[writer]).fit(batches(data, 16), epochs=1)
    again = FolderLock(folder, name=".elbox-checkpoints.lock", what="x")
    again.acquire()
    again.release()
