"""The errors of the checkpoint store, and how orbax's failures are reported in them."""

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Final

import orbax.checkpoint as ocp

_ORBAX_DIR: Final = os.path.dirname(ocp.__file__)
_REASON_CHARS: Final = 300


class CheckpointError(Exception):
    """A checkpoint folder cannot be used: not writable, empty, damaged or mismatched.

    The message names the folder and, where it applies, the step and what went wrong.
    """


class UnreadableError(Exception):
    """A checkpoint's files cannot be read back (internal: restore turns it into a message)."""


class _DropOrbaxRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.pathname.startswith(_ORBAX_DIR)


@contextlib.contextmanager
def quiet_orbax_logs() -> Iterator[None]:
    """Silence orbax's log records (through absl) while elbox reports the problem itself.

    Reading a damaged checkpoint makes orbax log errors on stderr before it raises; the
    store turns the failure into one warning or one CheckpointError, which says the same.
    """
    logger = logging.getLogger("absl")
    drop = _DropOrbaxRecords()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


_AFTER_A_FAILED_SAVE: Final = _DropOrbaxRecords()


def quiet_orbax_logs_from_now_on() -> None:
    """Silence orbax's log records for the rest of the process, after a save failed.

    A failed save leaves orbax's background threads (the metadata writer) failing too;
    they log the same failure with a traceback, possibly at the interpreter's exit,
    after elbox has reported it in one line.
    """
    logger = logging.getLogger("absl")
    if _AFTER_A_FAILED_SAVE not in logger.filters:
        logger.addFilter(_AFTER_A_FAILED_SAVE)


# What the operating system says when storage refuses a write; orbax and tensorstore bury
# it in long messages, of which it is the part a user needs.
_STORAGE_REASONS: Final = (
    "No space left on device",
    "Disk quota exceeded",
    "Read-only file system",
    "Permission denied",
)


def _storage_reason(error: BaseException) -> str | None:
    current: BaseException | None = error
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for text in _STORAGE_REASONS:
            if text in str(current):
                return text
        current = current.__cause__ or current.__context__
    return None


def reason(error: BaseException) -> str:
    """A one-line account of an orbax or tensorstore error, for messages (the operating
    system's words alone when storage refused a write: "No space left on device")."""
    storage = _storage_reason(error)
    if storage is not None:
        return storage
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."
