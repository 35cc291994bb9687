"""What the readers of the published formats read from: any binary stream."""

from typing import Protocol, runtime_checkable


@runtime_checkable
class Readable(Protocol):
    """A binary stream (a file, a gzip stream, a member of a zip or tar archive)."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to `size` bytes (all that is left for -1); fewer only at the end."""
        ...
