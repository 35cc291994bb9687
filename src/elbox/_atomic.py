"""Files written whole or not at all: a temporary name, fsync, then one rename.

Every file elbox writes in a run folder goes through `atomic_path` (or `write_atomic`,
`write_json`): the content is written to a hidden temporary file beside the target,
flushed to the disk, and renamed over the target, which POSIX makes atomic. A crash, a
signal or a full disk at any instant leaves the previous file (or none), never a torn one,
and no temporary file: it is removed when the writing fails, and SIGINT or SIGTERM wait
for the rename (see `deferred_signals`).
"""

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._faults import fault_point
from ._signals import deferred_signals


def _fsync_folder(folder: Path) -> None:
    # The rename itself reaches the disk with the folder's entry.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename is still atomic
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path to write `path`'s new content to; renamed over `path` when the
    block ends without an error, removed otherwise.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> target = Path(tempfile.mkdtemp()) / "table.csv"
        >>> with atomic_path(target) as temporary:
        ...     _ = temporary.write_text("a,b\\n1,2\\n")
        >>> target.read_text().splitlines()
        ['a,b', '1,2']
        >>> sorted(p.name for p in target.parent.iterdir())  # no temporary file left
        ['table.csv']
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with deferred_signals():
        try:
            yield temporary
            with temporary.open("rb+") as file:
                os.fsync(file.fileno())
            fault_point("atomic-rename")
            os.replace(temporary, target)
        except BaseException as error:
            with contextlib.suppress(OSError):
                temporary.unlink()
            if isinstance(error, OSError) and error.errno is not None:
                # Named by the file meant, not the temporary one.
                raise OSError(error.errno, error.strerror, str(target)) from error
            raise
    _fsync_folder(target.parent)


def write_atomic(path: str | os.PathLike[str], content: str | bytes) -> None:
    """Write `content` to `path` whole, or leave `path` as it was (see `atomic_path`)."""
    with atomic_path(path) as temporary:
        if isinstance(content, str):
            temporary.write_text(content)
        else:
            temporary.write_bytes(content)


def write_json(path: str | os.PathLike[str], value: Any) -> None:
    """Write `value` as indented JSON to `path`, whole or not at all."""
    write_atomic(path, json.dumps(value, indent=2) + "\n")
