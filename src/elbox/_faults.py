"""Faults injected at named moments, for the tests that kill a run where it hurts most.

Set `ELBOX_FAULT=POINT:ACTION[@N]` in a process's environment and the N-th time (the
first by default) that process reaches `fault_point(POINT)`, it does ACTION:

- `SIGINT`, `SIGTERM`, `SIGKILL`, `SIGSTOP`: sends itself the signal (SIGKILL ends it on
  the spot, as a crash or an out-of-memory kill would; SIGSTOP pauses it until a SIGCONT,
  so that a test can, say, fill the disk at that moment);
- `ENOSPC`: raises `OSError(ENOSPC)`, as a full disk would.

The points: `step` (a training step's metrics were read), `metrics-write` (halfway
through writing a line of metrics.jsonl: half of the line is on disk), `checkpoint-save`
(inside orbax's save, while the checkpoint's temporary folder exists), `atomic-rename`
(a file's new content is on disk under its temporary name, not yet renamed) and
`evaluation` (after training, before the test metrics). Without the variable,
`fault_point` only looks up a dictionary.
"""

import errno
import os
import signal
from collections.abc import Callable
from typing import Final

_VARIABLE: Final = "ELBOX_FAULT"
_ACTIONS: Final = ("SIGINT", "SIGTERM", "SIGKILL", "SIGSTOP", "ENOSPC")


def _parse(text: str) -> tuple[str, str, int] | None:
    if not text:
        return None
    point, _, rest = text.partition(":")
    action, _, count = rest.partition("@")
    if action not in _ACTIONS or (count and not count.isdigit()):
        raise ValueError(
            f"{_VARIABLE}={text!r}: expected POINT:ACTION[@N] with ACTION one of "
            f"{', '.join(_ACTIONS)}"
        )
    return point, action, int(count) if count else 1


_FAULT: Final = _parse(os.environ.get(_VARIABLE, ""))
_hits: dict[str, int] = {}


def fault_point(point: str, before: Callable[[], object] | None = None) -> None:
    """Do the fault `ELBOX_FAULT` names, if it names this point and this is its moment;
    `before` runs first (e.g. to write half a line)."""
    if _FAULT is None or _FAULT[0] != point:
        return
    _hits[point] = _hits.get(point, 0) + 1
    _, action, moment = _FAULT
    if _hits[point] != moment:
        return
    if before is not None:
        before()
    if action == "ENOSPC":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    os.kill(os.getpid(), getattr(signal, action))
