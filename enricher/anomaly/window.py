"""When a session restarts: the one rule shared by the service's stage and ``enricher train``.

Sessions keyed by host or service have no natural end; a session therefore restarts (as a new one)
after ``max_gap`` without events or after ``max_events`` events. Torch-free on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class SessionWindow:
    max_gap: timedelta | None = timedelta(minutes=30)
    max_events: int | None = 1000

    def over(self, events: int, last_seen: float | None, timestamp: float | None) -> bool:
        """Whether an event at ``timestamp`` starts a new session after ``events`` events last seen at ``last_seen``."""
        if events == 0:
            return False
        if self.max_events is not None and events >= self.max_events:
            return True
        if self.max_gap is None or timestamp is None or last_seen is None:
            return False
        return timestamp - last_seen > self.max_gap.total_seconds()
