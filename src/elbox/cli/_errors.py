"""How the `elbox` command reports errors: one line on stderr, and an exit status.

- A user's mistake (a bad option, bad data, a folder in use) is a `RunError` or a
  `DataError`: exit status 2, the message alone.
- Storage that cannot be written (a full disk, a read-only or forbidden folder): exit
  status 1, one line naming what could not be written and why.
- SIGINT or SIGTERM: exit status 130 or 143, one line saying what was kept (see
  `_interrupts`).
- Anything else is a fault at run time: exit status 1, the exception's type and message,
  and a hint to rerun with `--debug`, which prints the full traceback instead.

Warnings (elbox's own, and those of the libraries it calls) are one line each,
`elbox COMMAND: warning: ...`, without the source line Python shows; `--debug` shows them
as Python does.
"""

import argparse
import contextlib
import errno
import logging
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Final, NoReturn, TextIO

from .._signals import signal_name
from ..data import DataError
from ..training import MetricsLogError
from ._interrupts import Interrupted, exit_status

# OS errors that say the storage cannot take what is written, and their account in words.
_STORAGE_ERRORS: Final = {
    errno.ENOSPC: "No space left on device",
    errno.EDQUOT: "Disk quota exceeded",
    errno.EROFS: "Read-only file system",
    errno.EACCES: "Permission denied",
    errno.EPERM: "Operation not permitted",
    errno.EIO: "Input/output error",
}

USAGE_ERROR = 2
RUNTIME_ERROR = 1


class RunError(Exception):
    """A run cannot start or continue as asked; the message says why and what would work."""


class CommandParser(argparse.ArgumentParser):
    """argparse's parser, with its errors on one line (no usage block): `elbox train: error:
    argument --epochs: invalid int value: 'ten'`, exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print the one-line error and exit with status 2."""
        self.exit(USAGE_ERROR, f"{self.prog}: error: {_one_line(message)}\n")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _storage_reason(error: BaseException) -> str | None:
    """Why storage refused a write, when that is what `error` (or its cause) says."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _STORAGE_ERRORS:
            return current.strerror or _STORAGE_ERRORS[current.errno]
        text = str(current)
        for reason in _STORAGE_ERRORS.values():
            if reason in text:
                return reason
        current = current.__cause__ or current.__context__
    return None


def _storage_message(error: BaseException, reason: str) -> str:
    path = getattr(error, "filename", None)
    # Without a file name, the message names what failed (a CheckpointError names the
    # checkpoint folder and the step).
    what = f"could not write {path}: {reason}" if path else _one_line(str(error))
    return (
        f"{what}; free some space (or choose a folder you can write to) and run the "
        "command again: `elbox train --resume` continues a run from its last checkpoint"
    )


def _one_line_warning(command: str, stream: TextIO | None = None) -> Callable[..., None]:
    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        target = file or stream or sys.stderr
        print(f"elbox {command}: warning: {_one_line(str(message))}", file=target)

    return show


@contextlib.contextmanager
def one_line_warnings(command: str, *, debug: bool) -> Iterator[None]:
    """Show warnings as one line each (as Python does with `debug`)."""
    if debug:
        yield
        return
    # A failed write inside orbax leaves asyncio tasks whose exception was raised by the
    # same failure; asyncio logs each with a traceback when it is collected, possibly
    # after the command has reported the failure in its one line.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    previous: Any = warnings.showwarning
    warnings.showwarning = _one_line_warning(command)
    try:
        yield
    finally:
        warnings.showwarning = previous


def run_command(command: str, action: Callable[[], None], *, debug: bool) -> int:
    """Run `action`, turning its errors into one line on stderr and an exit status."""
    try:
        with one_line_warnings(command, debug=debug):
            action()
    except Interrupted as interruption:
        detail = f": {interruption.detail}" if interruption.detail else ""
        print(
            f"elbox {command}: interrupted by {signal_name(interruption.signum)}{detail}",
            file=sys.stderr,
        )
        return exit_status(interruption.signum)
    except KeyboardInterrupt:  # raised by Python's own handler, outside `Interruptions`
        print(f"elbox {command}: interrupted by SIGINT", file=sys.stderr)
        return 130
    except (RunError, DataError, MetricsLogError) as error:
        if debug:
            traceback.print_exc()
        print(f"elbox {command}: error: {_one_line(str(error))}", file=sys.stderr)
        return USAGE_ERROR
    except Exception as error:
        reason = _storage_reason(error)
        if reason is not None:
            if debug:
                traceback.print_exc()
            print(f"elbox {command}: error: {_storage_message(error, reason)}", file=sys.stderr)
            return RUNTIME_ERROR
        if debug:
            traceback.print_exc()
            return RUNTIME_ERROR
        print(
            f"elbox {command}: error: {type(error).__name__}: {_one_line(str(error))} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return RUNTIME_ERROR
    return 0
