"""Reading a monitored metric from an epoch's logs, with one warning when it is missing."""

import warnings
from collections.abc import Mapping


class MonitorWarner:
    """Warns once when a monitored metric is missing, naming the metrics that exist."""

    def __init__(self, owner: str, monitor: str) -> None:
        self._owner = owner
        self.monitor = monitor
        self._warned = False

    def value(self, logs: Mapping[str, float]) -> float | None:
        """`logs[monitor]`, or None (after one warning) when it is missing."""
        if self.monitor in logs:
            return logs[self.monitor]
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"{self._owner} monitors {self.monitor!r}, which is not among the epoch's "
                f"metrics {sorted(logs)}; it does nothing until that metric appears "
                "(validation metrics need val_data)",
                UserWarning,
                stacklevel=4,
            )
        return None
