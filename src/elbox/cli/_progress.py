"""Progress of the long phases of a command (evaluation, the likelihood bound, plots), as a
tqdm bar on a terminal and nothing elsewhere (logs stay free of bar redraws)."""

import sys
from typing import Any

from tqdm import tqdm


def progress(total: int, description: str) -> "tqdm[Any]":
    """A bar of `total` units named `description` on stderr; silent when stderr is not a
    terminal. Use it as a context manager and `update(n)` it."""
    return tqdm(
        total=total,
        desc=description,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
        disable=not sys.stderr.isatty(),
    )
