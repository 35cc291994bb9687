"""The `elbox` command's entry point: SIGINT and SIGTERM are held while the packages load.

Importing `elbox` imports JAX, which takes seconds; a KeyboardInterrupt raised halfway
through a compiled extension's import can end in a segmentation fault or a page of
tracebacks. This module, outside the `elbox` package so that nothing is imported before
it runs, holds the two signals until the import is done; the command then acts on a signal
held meanwhile as on one that arrives later: one line, exit status 130 or 143. A second
signal during the import ends the process at once.
"""

import os
import signal
import sys
from types import FrameType


class _Hold:
    """A signal handler that records the signals; `elbox.cli` takes them over."""

    def __init__(self) -> None:
        self.elbox_received: list[int] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.elbox_received:  # a second signal: stop at once
            os._exit(128 + signum)
        self.elbox_received.append(signum)


def main() -> int:
    """Run the `elbox` command (`elbox.cli.main`), the signals held while it loads."""
    hold = _Hold()
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, hold)
    from elbox.cli import main as command  # imports JAX

    status = command()
    if status == 1:
        # A failure the command has reported in one line (a full disk, storage that refuses
        # a write): what it wrote is whole or removed, and its locks are released. Library
        # threads may still be failing at it (orbax's writes to a full disk), and would
        # print their tracebacks while Python shuts down: end the process here.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
