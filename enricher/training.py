"""Training the configured models from historical documents (``enricher train``).

Historical documents are mined with the service's own template miner (loaded from, and saved back to,
its state in OpenSearch) so that the template ids the models learn are the ids the service will assign.
Events are grouped into sessions exactly as the service groups them, in time order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from enricher.config import Settings
from enricher.pipeline import EnrichmentPipeline
from enricher.registry import Manifest, ModelRegistry
from enricher.source import SessionKeys, SourceDocument, get_field

log = logging.getLogger(__name__)


@dataclass
class TrainingSessions:
    """Template ids per session, in time order, with the matching messages (for text features)."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    documents: int = 0
    skipped: int = 0

    def add(self, session: str, template_id: str, message: str) -> None:
        self.ids.setdefault(session, []).append(template_id)
        self.texts.setdefault(session, []).append(message)
        self.documents += 1

    def as_lists(self) -> tuple[list[list[str]], list[list[str]]]:
        keys = sorted(self.ids)
        return [self.ids[k] for k in keys], [self.texts[k] for k in keys]


def collect_sessions(
    batches: Iterable[list[SourceDocument]], pipeline: EnrichmentPipeline, settings: Settings
) -> TrainingSessions:
    """Mine every document's template (teaching the miner) and group the ids by session."""
    session_keys = SessionKeys(settings.source.session)
    sessions = TrainingSessions()
    for batch in batches:
        for doc in batch:
            message = get_field(doc.source, settings.source.message_field)
            if not isinstance(message, str) or not message.strip() or len(message) > settings.source.max_message_bytes:
                sessions.skipped += 1
                continue
            match = pipeline.miner.add(message)
            sessions.add(session_keys(doc.source, message), match.template_id, message)
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
) -> list[Manifest]:
    """Fit each configured anomaly model kind, add it to the registry as a new version.

    ``hyper`` overrides the detectors' defaults (e.g. ``calibration_folds``, ``epochs``) for every kind.
    """
    hyper = hyper or {}
    from enricher.anomaly import AutoencoderDetector, SequenceDetector

    ids, texts = sessions.as_lists()
    if not ids:
        raise ValueError("no training documents in that time range")
    summary = {**(training_data or {}), "documents": sessions.documents, "sessions": len(ids),
               "templates": len({t for s in ids for t in s}), "skipped_documents": sessions.skipped}
    wanted = kinds or [*settings.models.sequence_kinds, *settings.models.autoencoder_kinds]
    manifests = []
    for kind in wanted:
        log.info("training", extra={"kind": kind, "sessions": len(ids)})
        if kind.startswith("sequence-"):
            detector: Any = SequenceDetector(arch=kind.removeprefix("sequence-"), **hyper).fit(ids, progress=progress)
        elif kind in ("autoencoder-lstm", "autoencoder-vae"):
            arch = "lstm-ae" if kind == "autoencoder-lstm" else "vae"
            detector = AutoencoderDetector(arch=arch, **hyper).fit(ids, event_texts=texts, progress=progress)
        else:
            raise ValueError(f"unknown model kind {kind!r}")
        folder = registry.new_version_dir(kind)
        detector.save_pretrained(folder, training_data=summary)
        manifest = registry.promote(kind, folder.name) if promote else registry.resolve(kind, folder.name)[1]
        manifests.append(manifest)
    return manifests
