from typing import Any

from .args import CheckpointArgs

class CheckpointHandler: ...

class JsonCheckpointHandler(CheckpointHandler):
    def __init__(self, filename: str | None = None) -> None: ...
    async def async_save(self, directory: Any, *args: Any, **kwargs: Any) -> Any: ...

class CheckpointHandlerRegistry: ...

class DefaultCheckpointHandlerRegistry(CheckpointHandlerRegistry):
    def __init__(self, other_registry: CheckpointHandlerRegistry | None = None) -> None: ...
    def add(
        self,
        item: str | None,
        args: type[CheckpointArgs] | CheckpointArgs,
        handler: CheckpointHandler | type[CheckpointHandler] | None = None,
    ) -> None: ...
