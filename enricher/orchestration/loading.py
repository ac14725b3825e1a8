"""Building the pipeline: the template miner (from its saved state) and the promoted models the
configuration asks for, loaded from the registry.

Anomaly models are loaded through the estimator interface: the folder's kind names the class
(:data:`enricher.anomaly.kinds.ANOMALY_KINDS`), so nothing here branches on the kind.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from enricher.config import Settings
from enricher.orchestration.pipeline import AnomalyScorer, EnrichmentPipeline
from enricher.registry import Manifest, ModelIntegrityError, ModelRegistry, ModelTampered
from enricher.templates import PartitionedMiner

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


def build_pipeline(settings: Settings, saved_state: dict[str, Any] | None = None) -> EnrichmentPipeline:
    """The configured pipeline: the miner of ``saved_state`` (or a new one) and the promoted models."""
    saved_state = saved_state or {}
    registry = ModelRegistry(settings.models.registry)
    miner_state = saved_state.get("miner")
    miner = PartitionedMiner.from_state(miner_state, settings.templates) if miner_state \
        else PartitionedMiner(settings.templates)
    pipeline = EnrichmentPipeline(
        miner=miner, pipeline_version=settings.pipeline_version,
        max_message_bytes=settings.source.max_message_bytes,
        novel_template_flags=settings.models.novel_template_flags,
    )
    classifier_files = resolve_or_skip(registry, "classifier", settings, pipeline.missing_models) \
        if settings.models.classifier else None
    pipeline.scorers = load_anomaly_scorers(settings, registry, pipeline.missing_models)
    if settings.models.torch_threads and (classifier_files or pipeline.scorers):
        import torch  # only once a model is loaded: it costs ~500 MB

        torch.set_num_threads(settings.models.torch_threads)  # process-wide: the service owns its process
    if classifier_files is not None:
        from enricher.classify import ClassifierStage, LogClassifier

        folder, manifest = classifier_files
        model = LogClassifier.from_pretrained(folder, inference_dtype=settings.models.classifier_precision)
        model.predict(["service started"])  # warm up (first-call allocations) before the first pass
        pipeline.classifier = ClassifierStage(model, model_version=manifest.version)
        pipeline.classifier_version = manifest.version
    pipeline.load_scorer_states(saved_state.get("scorers", {}))
    return pipeline


def available_model_kinds(settings: Settings) -> list[str]:
    """The configured kinds that have a promoted version (what a service started now would load)."""
    registry = ModelRegistry(settings.models.registry)
    wanted = (["classifier"] if settings.models.classifier else []) + configured_anomaly_kinds(settings)
    return [kind for kind in wanted if registry.promoted_version(kind) is not None]
