"""A checkpoint's list of its files, with their sizes and BLAKE2 digests.

After orbax commits a checkpoint, the store lists its files in `elbox-manifest.json`;
`restore` checks them before orbax reads anything. This finds truncated, deleted and
altered files deterministically and says which one. (When one of orbax's concurrent
tensorstore reads fails, the reads still in flight complete after orbax has closed its
event loop and raise "Event loop is closed" in a callback, which Python prints as an
ignored exception; checking first keeps damaged files from reaching orbax at all.) A step
without the file (the process was killed between orbax's commit and the listing) is read
unchecked.
"""

import hashlib
import json
from pathlib import Path
from typing import Final

from ..._atomic import write_atomic
from ._errors import UnreadableError, reason

MANIFEST: Final = "elbox-manifest.json"
FORMAT: Final = 1


def file_digest(path: Path) -> str:
    """The BLAKE2b digest of a file, in hex."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "blake2b").hexdigest()


def write_manifest(folder: Path) -> None:
    """List the files of a committed checkpoint with their sizes and digests."""
    files = {
        path.relative_to(folder).as_posix(): [path.stat().st_size, file_digest(path)]
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(MANIFEST)
    }
    write_atomic(folder / MANIFEST, json.dumps({"format": FORMAT, "files": files}))


def parse_json(path: Path) -> None:
    """Check that `path` holds valid JSON; `UnreadableError` says why it does not."""
    try:
        json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UnreadableError(f"{path.name} is not valid JSON: {reason(error)}") from error


def verify_manifest(folder: Path, *, digests: bool = True) -> None:
    """Check the files of a checkpoint against its listing; `UnreadableError` names a bad one.

    With `digests=False` only the files' sizes are compared (cheap: no file is read).
    """
    listing = folder / MANIFEST
    if not listing.exists():
        return
    try:
        files = json.loads(listing.read_text())["files"]
        expected = [(str(name), int(size), str(digest)) for name, (size, digest) in files.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UnreadableError(f"its file list {MANIFEST} is damaged: {reason(error)}") from error
    for name, size, digest in expected:
        path = folder / name
        try:
            found = path.stat().st_size
            if found != size:
                raise UnreadableError(f"{name} has {found} bytes where {size} were written")
            if digests and file_digest(path) != digest:
                raise UnreadableError(f"{name} differs from what was written")
        except OSError as error:
            raise UnreadableError(f"{name}: {error.strerror or error}") from error
