"""Training the configured models from historical documents (``enricher train``).

Historical documents are mined with the service's own template miner (loaded from, and saved back to,
its state in OpenSearch) so that the template ids the models learn are the ids the service will assign.
Events are grouped into sessions exactly as the service groups them, in time order, and cut where the
service restarts a session (``source.session.max_gap`` / ``max_events``), so the thresholds are
calibrated on sessions of the length the service scores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from enricher.anomaly.window import SessionWindow
from enricher.config import Settings
from enricher.orchestration.loading import configured_anomaly_kinds
from enricher.orchestration.pipeline import EnrichmentPipeline
from enricher.records import LogInput
from enricher.registry import Manifest, ModelRegistry
from enricher.cluster.source import SourceDocument

log = logging.getLogger(__name__)


@dataclass
class TrainingSessions:
    """Template ids per session, in time order, with the matching messages (for text features).

    A session key's events are cut into windows where the service's stage restarts a session
    (:class:`~enricher.anomaly.window.SessionWindow`); each window is one training session.
    """

    window: SessionWindow
    ids: dict[str, list[str]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    documents: int = 0
    skipped: int = 0
    _current: dict[str, tuple[str, float | None]] = field(default_factory=dict, init=False, repr=False)

    def add(self, session: str, template_id: str, message: str, timestamp: float | None = None) -> None:
        current, last_seen = self._current.get(session, (session, None))
        if self.window.over(len(self.ids.get(current, ())), last_seen, timestamp):
            current = f"{session}\x00{len(self.ids)}"  # unique: the number of windows so far
        self._current[session] = (current, timestamp if timestamp is not None else last_seen)
        self.ids.setdefault(current, []).append(template_id)
        self.texts.setdefault(current, []).append(message)
        self.documents += 1

    def as_lists(self) -> tuple[list[list[str]], list[list[str]]]:
        keys = sorted(self.ids)
        return [self.ids[k] for k in keys], [self.texts[k] for k in keys]


@dataclass
class TrainedModel:
    manifest: Manifest
    thresholds: dict[str, float]  # the estimator's fitted thresholds (they live in its folder)


def collect_sessions(
    batches: Iterable[list[SourceDocument]], pipeline: EnrichmentPipeline, settings: Settings,
    to_input: Callable[[SourceDocument], LogInput],
) -> TrainingSessions:
    """Mine every document's template (teaching the miner) and group the ids by session.

    ``to_input`` is the service's own reading of a document (``DocumentSource.log_input``): the same
    message, session key, time and log source (miner partition) the service will use.
    """
    session = settings.source.session
    sessions = TrainingSessions(SessionWindow(session.max_gap, session.max_events))
    for batch in batches:
        for doc in batch:
            item = to_input(doc)
            message = item.message
            if not isinstance(message, str) or not message.strip() or len(message) > settings.source.max_message_bytes:
                sessions.skipped += 1
                continue
            template_id = pipeline.miner.learn(message, partition=pipeline.partition_for(item.partition))
            sessions.add(item.session_key, template_id, message, item.timestamp)
    # Early documents of a template were mined before it generalised: train on the final ids, the ones
    # the service will assign from now on.
    for ids in sessions.ids.values():
        ids[:] = [pipeline.miner.canonical_id(template_id) for template_id in ids]
    return sessions


def train_anomaly_models(
    sessions: TrainingSessions,
    settings: Settings,
    registry: ModelRegistry,
    *,
    kinds: list[str] | None = None,
    promote: bool = False,
    training_data: dict[str, Any] | None = None,
    progress: bool = True,
    hyper: dict[str, Any] | None = None,
    time_budget_seconds: float | None = None,
) -> list[TrainedModel]:
    """Fit each configured anomaly model kind, add it to the registry as a new version.

    ``hyper`` overrides the estimators' defaults (e.g. ``calibration_folds``, ``epochs``) for every kind.
    ``time_budget_seconds`` bounds the whole run: each kind gets an equal share of the time left.
    """
    from enricher.anomaly import estimator_class  # torch only when training

    ids, texts = sessions.as_lists()
    if not ids:
        raise ValueError("no training documents in that time range")
    wanted = kinds or configured_anomaly_kinds(settings)
    classes = [estimator_class(kind) for kind in wanted]  # a misspelt kind fails before any training
    summary = {**(training_data or {}), "documents": sessions.documents, "sessions": len(ids),
               "templates": len({t for s in ids for t in s}), "skipped_documents": sessions.skipped}
    deadline = None if time_budget_seconds is None else time.monotonic() + time_budget_seconds
    trained = []
    for position, (kind, cls) in enumerate(zip(wanted, classes)):
        log.info("training", extra={"kind": kind, "sessions": len(ids)})
        share = None if deadline is None else max(1.0, deadline - time.monotonic()) / (len(wanted) - position)
        budget = {} if share is None else {"time_budget_seconds": share}
        estimator = cls(**{**(hyper or {}), **budget}).fit(ids, texts, progress=progress)
        folder = registry.new_version_dir(kind)
        estimator.save_pretrained(folder, training_data=summary)
        manifest = registry.promote(kind, folder.name) if promote else registry.resolve(kind, folder.name)[1]
        trained.append(TrainedModel(manifest, estimator.thresholds()))
    return trained
