import datetime
from collections.abc import Sequence
from typing import Any, Protocol

class PolicyCheckpointInfo(Protocol):
    step: int
    metrics: dict[str, Any] | None
    time: datetime.datetime

class PreservationContext: ...

class PreservationPolicy(Protocol):
    def should_preserve(
        self, checkpoints: Sequence[PolicyCheckpointInfo], *, context: PreservationContext
    ) -> Sequence[bool]: ...

class AnyPreservationPolicy(PreservationPolicy):
    policies: Sequence[PreservationPolicy]
    def __init__(self, policies: Sequence[PreservationPolicy]) -> None: ...
