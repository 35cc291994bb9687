"""How the `elbox` command reports errors: one line on stderr, and an exit status.

- A user's mistake (a bad option, bad data, a folder in use) is a `RunError` or a
  `DataError`: exit status 2, the message alone.
- Anything else is a fault at run time: exit status 1, the exception's type and message,
  and a hint to rerun with `--debug`, which prints the full traceback instead.
"""

import argparse
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from ..data import DataError

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


def run_command(command: str, action: Callable[[], None], *, debug: bool) -> int:
    """Run `action`, turning its errors into one line on stderr and an exit status."""
    try:
        action()
    except (RunError, DataError) as error:
        if debug:
            traceback.print_exc()
        print(f"elbox {command}: error: {_one_line(str(error))}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"elbox {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
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
