"""One writer per folder: an exclusive OS lock on a file inside it, held for a run's life.

The lock is `flock(2)` on a small file in the folder. The kernel releases it when the holder
closes the file or dies in any way (an exception, `os._exit`, SIGKILL), so a crashed run
never leaves a lock that is still held: the next run simply takes it. The holder writes its
process id into the file, so a refused writer can say who holds the folder, and deletes the
file when it lets the lock go, so a finished run leaves no lock file behind. (Only a process
that dies without releasing leaves the file, naming a dead process; the next holder takes it
over and deletes it in turn.)

Deleting a lock file is safe because a taker checks, once it holds the lock, that the file
it locked is still the one under that name: a taker that opened the file just before its
holder deleted it would otherwise hold a lock on a nameless file while a third process
locks a new file of the same name.

Locks on different files of the same folder are independent: the command line holds the run
folder's lock and `ModelCheckpoint` the lock of `run/checkpoints`, in the same process.
The lock is per open file, so a second `FolderLock` on the same file refuses even in the
same process.
"""

import fcntl
import os
from pathlib import Path
from typing import final


class FolderInUseError(Exception):
    """Another process (or another lock object) holds the folder's lock.

    Attributes:
        folder: the folder.
        pid: the process id the holder wrote into the lock file, if it could be read.
    """

    def __init__(self, message: str, *, folder: Path, pid: int | None) -> None:
        super().__init__(message)
        self.folder = folder
        self.pid = pid


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@final
class FolderLock:
    """An exclusive, non-blocking lock on `folder`, held through the file `folder/name`.

    Args:
        folder: the folder to hold (it must exist when `acquire` is called).
        name: the lock file's name inside it.
        what: how messages name the folder, e.g. "the run folder".
    """

    def __init__(self, folder: str | os.PathLike[str], *, name: str, what: str) -> None:
        self.folder = Path(folder)
        self.path = self.folder / name
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock at once, or raise `FolderInUseError` naming the holder's process id.

        Raises:
            FolderInUseError: another holder has it.
            OSError: the lock file cannot be created (an unwritable folder).
        """
        if self._fd is not None:
            return
        while True:
            fd = self._lock_file()
            if fd is not None:
                break
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def _lock_file(self) -> int | None:
        """Lock the file under the lock's name: its descriptor, or None when the file was
        deleted or replaced by its previous holder meanwhile (then try again)."""
        # Not inherited by child processes (os.open's default since Python 3.4): a helper a
        # run starts cannot keep the folder locked after the run has died.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            locked = os.fstat(fd)
        except BlockingIOError:
            os.close(fd)
            pid = _read_pid(self.path)
            holder = "another process" if pid is None else f"another process (pid {pid})"
            raise FolderInUseError(
                f"{self.what} {self.folder} is in use by {holder}, which holds its lock "
                f"file {self.path.name}; wait for that process to finish, or use another "
                "folder",
                folder=self.folder,
                pid=pid,
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if current is None or (current.st_dev, current.st_ino) != (locked.st_dev, locked.st_ino):
            os.close(fd)
            return None
        return fd

    def release(self) -> None:
        """Delete the lock file and let the lock go (harmless when not held)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                # Deleted while still held: a waiting taker then finds its file gone.
                self.path.unlink(missing_ok=True)
            except OSError:
                pass  # a folder that became read-only: the file stays, unlocked
            finally:
                try:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                finally:
                    os.close(fd)

    def __repr__(self) -> str:
        return f"FolderLock({str(self.folder)!r}, held={self.held})"
