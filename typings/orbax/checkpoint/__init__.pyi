# Stubs for the part of orbax-checkpoint that elbox uses: orbax ships no py.typed.
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from . import args as args
from . import checkpoint_managers as checkpoint_managers
from . import handlers as handlers
from .args import CheckpointArgs
from .checkpoint_managers import PreservationPolicy
from .handlers import CheckpointHandlerRegistry

class CheckpointManagerOptions:
    def __init__(
        self,
        *,
        best_fn: Callable[[Any], float] | None = None,
        best_mode: Literal["min", "max"] = "max",
        keep_checkpoints_without_metrics: bool = True,
        create: bool = True,
        cleanup_tmp_directories: bool = False,
        todelete_subdir: str | None = None,
        enable_background_delete: bool = False,
        read_only: bool = False,
        enable_async_checkpointing: bool = True,
        preservation_policy: PreservationPolicy | None = None,
        lightweight_initialize: bool = False,
    ) -> None: ...

class CheckpointManager:
    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        options: CheckpointManagerOptions | None = None,
        metadata: Mapping[str, Any] | None = None,
        handler_registry: CheckpointHandlerRegistry | None = None,
    ) -> None: ...
    def all_steps(self) -> Sequence[int]: ...
    def latest_step(self) -> int | None: ...
    def best_step(self) -> int | None: ...
    def reload(self) -> None: ...
    def delete(self, step: int) -> None: ...
    def save(
        self,
        step: int,
        *,
        args: CheckpointArgs,
        metrics: Mapping[str, Any] | None = None,
        force: bool = False,
        custom_metadata: dict[str, Any] | None = None,
    ) -> bool: ...
    def restore(
        self,
        step: int | None,
        *,
        args: CheckpointArgs | None = None,
        directory: str | os.PathLike[str] | None = None,
    ) -> Any: ...
    def metrics(self, step: int) -> Any: ...
    def wait_until_finished(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> CheckpointManager: ...
    def __exit__(self, *exc_info: object) -> None: ...
