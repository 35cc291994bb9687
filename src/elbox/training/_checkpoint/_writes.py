"""`SaveWrites`: a checkpoint save reports its end only once every write it started has ended.

orbax hands each item's writes to background threads (its commit futures) and waits for
them one after another, so the first to fail ends the save while the others still write.
Were the caller to remove the save's temporary folder then, a write still under way would
make the folder again: on a full disk, the removal itself frees the space that write needs.
The item handlers here never fail in orbax's hands: they give orbax, in place of their own
commit futures, one future that waits for every commit future of the whole save before it
reports the item's outcome (a failure of the item's own start included), and the store
waits for them all again before removing anything.
"""

import threading
from collections.abc import Awaitable, Sequence
from typing import Any, final

import orbax.checkpoint as ocp

from ..._faults import fault_point


@final
class SaveWrites:
    """The commit futures of the save under way, from every item of the checkpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: list[Any] = []

    def begin(self) -> None:
        """Forget the futures of the last save: a new one starts."""
        with self._lock:
            self._futures = []

    async def track(self, save: Awaitable[Sequence[Any] | None]) -> list[Any]:
        """Record the commit futures of an item's `save` (orbax's `async_save`); what its
        handler gives orbax in their place."""
        try:
            own = list(await save or [])
        except Exception as error:  # Reported once every write of the save has ended.
            return [_AfterEveryWrite(self, [], error)]
        with self._lock:
            self._futures.extend(own)
        return [_AfterEveryWrite(self, own, None)]

    def wait(self) -> None:
        """Wait until every commit future of the save has ended, failed or not."""
        with self._lock:
            futures = list(self._futures)
        for future in futures:
            try:
                future.result()
            except Exception:
                continue


@final
class _AfterEveryWrite:
    """A commit future that ends when every write of the save has ended, then reports the
    item's own outcome: the failure of its start, else the first of its futures to fail."""

    def __init__(self, writes: SaveWrites, own: list[Any], failure: Exception | None) -> None:
        self._writes = writes
        self._own = own
        self._failure = failure

    def result(self, timeout: float | None = None) -> None:
        del timeout  # A save's writes are waited for to their end.
        self._writes.wait()
        if self._failure is not None:
            raise self._failure
        for future in self._own:
            future.result()


@final
class StateHandler(ocp.handlers.StandardCheckpointHandler):
    """orbax's standard handler of the state's arrays, its writes tracked by `writes`."""

    def __init__(self, writes: SaveWrites) -> None:
        super().__init__()
        self._writes = writes

    async def async_save(self, directory: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._writes.track(super().async_save(directory, *args, **kwargs))


@final
class RecordHandler(ocp.handlers.JsonCheckpointHandler):
    """orbax's JSON handler of the record, its writes tracked by `writes`; with the test
    hook `checkpoint-save` (see `elbox._faults`), which runs inside orbax's save while the
    checkpoint's temporary folder exists."""

    def __init__(self, writes: SaveWrites) -> None:
        super().__init__()
        self._writes = writes

    async def async_save(self, directory: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._writes.track(self._save(directory, *args, **kwargs))

    async def _save(self, directory: Any, *args: Any, **kwargs: Any) -> Any:
        fault_point("checkpoint-save")
        return await super().async_save(directory, *args, **kwargs)
