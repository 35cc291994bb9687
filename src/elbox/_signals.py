"""Sections that a signal must not cut in half: SIGINT and SIGTERM wait until they end.

A Python signal handler runs between two bytecodes of the main thread, wherever it happens
to be; a `KeyboardInterrupt` raised inside orbax's checkpoint writer or halfway through a
file's rename leaves a temporary folder or a torn file behind. Inside `deferred_signals()`
the two signals are held: the first is delivered to the handler that was in place when the
section ends (so `Ctrl-C` still stops the program, just after the section), and a second
one is delivered at once, so that pressing `Ctrl-C` twice always ends what is running.
"""

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, Final

HELD_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


def _deliver(signum: int, handler: Any) -> None:
    """Hand `signum` to `handler`, as the signal machinery would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)  # the default action: for SIGTERM, the process ends
    # SIG_IGN, or a handler installed outside Python (None): nothing to do


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends; a second signal is delivered at once.

    Outside the main thread (where Python runs no signal handler) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    pending: list[int] = []

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        previous.clear()

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)
        if len(pending) > 1:  # asked twice: stop holding, deliver both now
            handlers = dict(previous)
            restore()
            for held in pending:
                _deliver(held, handlers[held])

    for signum in HELD_SIGNALS:
        handler = signal.getsignal(signum)
        if handler in (signal.SIG_IGN, None):  # ignored (nohup, a background job): left so
            continue
        previous[signum] = handler
        signal.signal(signum, hold)
    try:
        yield
    finally:
        handlers = dict(previous)
        restore()
        if len(pending) == 1:
            _deliver(pending[0], handlers[pending[0]])


def signal_name(signum: int) -> str:
    """`SIGINT`, `SIGTERM`, ... for a signal number."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


SignalHandler = Callable[[int, FrameType | None], Any]
"""What `signal.signal` installs."""
