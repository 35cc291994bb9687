"""The errors of the checkpoint store, and how orbax's failures are reported in them."""

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
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


def drop_closed_loop_reports() -> None:
    """From now on, drop the reports of tensorstore writes that end after their save.

    When one write of a save fails (a full disk), orbax ends the save and closes its event
    loop while tensorstore still has other writes under way; each of them, ending on
    tensorstore's threads, reports to the closed loop, and Python prints that
    `RuntimeError: Event loop is closed` with a traceback through `sys.unraisablehook`
    (none to dozens, by timing, during the save and after it). The save's failure is
    reported once, as a `CheckpointError`. Only these reports are dropped: every other
    goes to the hook installed before. Called by each save; installed once.
    """
    if not isinstance(sys.unraisablehook, _DropClosedLoopReports):
        sys.unraisablehook = _DropClosedLoopReports(sys.unraisablehook)


class _DropClosedLoopReports:
    """An unraisable-exception hook that drops the reports of writes ending after their
    save's event loop closed, and passes every other report to the hook it wraps."""

    def __init__(self, wrapped: Callable[["sys.UnraisableHookArgs"], object]) -> None:
        self._wrapped = wrapped

    def __call__(self, unraisable: "sys.UnraisableHookArgs") -> None:
        if not _is_closed_loop_report(unraisable):
            self._wrapped(unraisable)


def _is_closed_loop_report(unraisable: "sys.UnraisableHookArgs") -> bool:
    """A `RuntimeError('Event loop is closed')` raised by asyncio's `_check_closed`."""
    error = unraisable.exc_value
    if not isinstance(error, RuntimeError) or str(error) != "Event loop is closed":
        return False
    frame = unraisable.exc_traceback
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and frame.tb_frame.f_code.co_name == "_check_closed"


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
