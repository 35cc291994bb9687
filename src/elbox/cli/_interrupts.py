"""What SIGINT (Ctrl-C) and SIGTERM (what schedulers send before they stop a job) do to a
command: end it with one line and exit status 130 or 143, leaving every file whole.

- While a run trains, the signal asks the training loop to stop after the step that is
  running; the loop saves a checkpoint of that step, so `--resume` loses no finished step.
- At any other moment (starting, evaluating, plotting) it ends the command at once; files
  are written atomically and checkpoints saved with the signals held (`deferred_signals`),
  so nothing is left half-written.
- A second signal ends the process on the spot (`os._exit`), whatever it is doing.
"""

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, Final, final

from .._signals import HELD_SIGNALS, signal_name

# The attribute through which the `elbox` script's start-up handler hands over a signal
# that arrived while the packages were imported (see `_elbox_entry.py`).
STARTUP_ATTRIBUTE: Final = "elbox_received"


def exit_status(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + signum


class Interrupted(BaseException):  # like KeyboardInterrupt, which it stands for
    """The command was interrupted by a signal; `detail` says what was kept.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` swallows it.
    """

    def __init__(self, signum: int, detail: str = "") -> None:
        super().__init__(signal_name(signum))
        self.signum = signum
        self.detail = detail


@final
class Interruptions:
    """The command's handler of SIGINT and SIGTERM (`install` it once, first thing)."""

    def __init__(self) -> None:
        self.received: int | None = None
        """The first signal received, if any."""
        self._graceful: Callable[[str], None] | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """Handle SIGINT and SIGTERM until `uninstall` (a signal ignored by the caller, as
        `nohup` and background jobs ignore SIGINT, stays ignored)."""
        for signum in HELD_SIGNALS:
            previous = signal.getsignal(signum)
            if previous == signal.SIG_IGN:
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
            held = getattr(previous, STARTUP_ATTRIBUTE, None)
            if isinstance(held, list) and held and self.received is None:
                self.received = int(held[0])

    def uninstall(self) -> None:
        """Put back the handlers `install` replaced (`main` called in a program, or a
        test, leaves its signals as it found them)."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            print(
                f"elbox: {signal_name(signum)} again: stopped at once", file=sys.stderr, flush=True
            )
            sys.stdout.flush()
            os._exit(exit_status(signum))
        self.received = signum
        if self._graceful is not None:
            self._graceful(signal_name(signum))
            return
        raise Interrupted(signum)

    def check(self) -> None:
        """Raise `Interrupted` for a signal received earlier (one whose exception a library
        swallowed, as exceptions raised inside a garbage-collection callback are)."""
        if self.received is not None:
            raise Interrupted(self.received)

    def set_graceful(self, request: Callable[[str], None] | None) -> None:
        """From now on a signal calls `request(name)` (the training loop's
        `request_interrupt`) instead of raising; None raises again."""
        self._graceful = request
        if request is not None and self.received is not None:
            # One arrived before and its exception was lost (see `check`): act on it now.
            request(signal_name(self.received))
