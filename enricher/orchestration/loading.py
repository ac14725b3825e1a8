"""Loading the promoted models the configuration asks for from the registry.

Anomaly models are loaded through the estimator interface: the folder's kind names the class
(:data:`enricher.anomaly.kinds.ANOMALY_KINDS`), so nothing here branches on the kind.
"""

from __future__ import annotations

import logging
from pathlib import Path

from enricher.config import Settings
from enricher.orchestration.pipeline import AnomalyScorer
from enricher.registry import Manifest, ModelIntegrityError, ModelRegistry, ModelTampered

log = logging.getLogger(__name__)


def configured_anomaly_kinds(settings: Settings) -> list[str]:
    """Every anomaly model kind the configuration asks for, in order."""
    return [*settings.models.sequence_kinds, *settings.models.autoencoder_kinds]


def resolve_or_skip(
    registry: ModelRegistry, kind: str, settings: Settings, missing: list[str] | None = None
) -> tuple[Path, Manifest] | None:
    """The promoted, verified folder of ``kind``; None (with a warning, and ``kind`` added to ``missing``)
    when absent and allowed to be.

    A folder that fails verification is never skipped silently: tampering refuses to start.
    """
    try:
        return registry.resolve(kind)
    except ModelIntegrityError as exc:
        if settings.models.missing_model == "fail" or isinstance(exc, ModelTampered):
            raise
        log.warning("%s model not loaded, enriching without it: %s", kind, exc, extra={"kind": kind})
        if missing is not None:
            missing.append(kind)
        return None


def load_anomaly_scorers(
    settings: Settings, registry: ModelRegistry, missing: list[str] | None = None
) -> list[AnomalyScorer]:
    """A scorer for the promoted model of every configured anomaly kind (absent ones skipped unless told to
    fail, and added to ``missing``)."""
    scorers = []
    for kind in configured_anomaly_kinds(settings):
        resolved = resolve_or_skip(registry, kind, settings, missing)
        if resolved is None:
            continue
        from enricher.anomaly import AnomalyEstimator, AnomalyStage  # torch only when a model is present

        folder, manifest = resolved
        estimator = AnomalyEstimator.from_pretrained(folder)
        session = settings.source.session
        stage = AnomalyStage(estimator, manifest.version, max_gap=session.max_gap, max_events=session.max_events)
        scorers.append(AnomalyScorer(kind=kind, family=estimator.family, version=manifest.version, stage=stage))
    return scorers
