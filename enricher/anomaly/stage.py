"""The service stage: per-event verdicts from any anomaly estimator, one model call per batch.

The stage keeps, for every session key it has seen recently, what its estimator needs of that session
(see ``AnomalyEstimator.start_running``) in an LRU map bounded by ``max_sessions``; the least recently
active session is dropped first (if it comes back it is treated as a new session).

A session also restarts (its memory and score reset, as for a new session) after ``max_gap`` without
events or after ``max_events`` events. Sessions keyed by host or service have no natural end: without a
window a running surprise only grows, and flags got denser the longer the service ran (Linux sample:
200 of 2,600 events flagged, lines identical to training data among them). ``enricher train`` cuts its
training sessions the same way, so thresholds fit windows of this size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from enricher.anomaly.base import AnomalyEstimator, RunningSession
from enricher.anomaly.window import SessionWindow
from enricher.caching import LRUDict
from enricher.records import AnomalyEvent, AnomalyVerdict

log = logging.getLogger(__name__)

STATE_VERSION = 2  # 1: one list per session with uninterned ids (not restored: sessions restart)
DEFAULT_WINDOW = SessionWindow()


class AnomalyStage:
    """Per-event verdicts of one estimator over the sessions of a stream of events."""

    def __init__(
        self,
        estimator: AnomalyEstimator,
        model_version: str,
        *,
        max_sessions: int = 10_000,
        max_saved_sessions: int = 5_000,
        max_gap: timedelta | None = DEFAULT_WINDOW.max_gap,
        max_events: int | None = DEFAULT_WINDOW.max_events,
    ) -> None:
        if max_sessions < 1 or max_saved_sessions < 0:
            raise ValueError("max_sessions must be at least 1 and max_saved_sessions at least 0")
        self.estimator = estimator
        self.model_version = model_version
        self.max_saved_sessions = max_saved_sessions
        self.window = SessionWindow(max_gap, max_events)
        self.sessions: LRUDict[str, RunningSession] = LRUDict(max_sessions)

    @property
    def known_templates(self) -> list[str]:
        """The template ids the model was trained on (the pipeline maps renamed templates back to them)."""
        return self.estimator.known_templates

    def score(self, events: Sequence[AnomalyEvent]) -> list[AnomalyVerdict]:
        running = [self._session_of(event) for event in events]
        threshold, version = self.estimator.event_threshold_, self.model_version
        return [AnomalyVerdict(score, threshold, reason is not None, version, [] if reason is None else [reason])
                for score, reason in self.estimator.score_running(running, events)]

    def _session_of(self, event: AnomalyEvent) -> RunningSession:
        """The event's session, restarted if its window is over; counts the event in it."""
        session = self.sessions.get(event.session_key)
        if session is None or self.window.over(session.events, session.last_seen, event.timestamp):
            session = RunningSession(self.estimator.start_running())
        self.sessions.put(event.session_key, session)
        session.events += 1
        if event.timestamp is not None:
            session.last_seen = event.timestamp
        return session

    def to_state(self) -> dict[str, Any]:
        """The most recently active sessions' memories (to survive a restart); template ids stored once."""
        index: dict[str, int] = {}

        def intern(template_id: str) -> int:
            return index.setdefault(template_id, len(index))

        recent = list(self.sessions.items())[-self.max_saved_sessions :] if self.max_saved_sessions else []
        saved = [
            [key, self.estimator.running_to_json(s.memory, intern), round(s.score, 6), s.events, s.last_seen]
            for key, s in recent
        ]
        return {"stage": self.estimator.kind, "version": STATE_VERSION, "model_version": self.model_version,
                "templates": list(index), "sessions": saved}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore saved sessions (oldest first); a state of another format version is dropped."""
        if state.get("version") != STATE_VERSION:
            log.warning("anomaly stage state of format %s not restored; sessions restart", state.get("version"))
            return
        if state.get("stage") != self.estimator.kind:
            raise ValueError(f"not a saved {self.estimator.kind} state: {state.get('stage')!r}")
        templates = state["templates"]
        for key, memory, score, events, last_seen in state["sessions"]:
            restored = self.estimator.running_from_json(memory, templates.__getitem__)
            self.sessions.put(key, RunningSession(restored, float(score), int(events), last_seen))
