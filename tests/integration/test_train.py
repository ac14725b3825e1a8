"""`enricher train` from documents in OpenSearch, then a pass that writes anomaly verdicts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from enricher.registry import ModelRegistry
from enricher.samples import generate
from enricher.orchestration.loading import build_pipeline
from enricher.orchestration.service import EnrichmentService
from enricher.orchestration.training import collect_sessions, train_anomaly_models

from .test_service import all_docs, load

pytestmark = pytest.mark.integration


def test_trained_sequence_model_flags_injected_anomalies(opensearch, names, make_settings, tmp_path):
    now = datetime.now(timezone.utc)
    history = list(generate(1500, start=now - timedelta(hours=5), seed=21))
    live = list(generate(600, start=now - timedelta(minutes=30), seed=22, anomaly_rate=0.1))
    load(opensearch, names["logs"], history + live)
    settings = make_settings(
        source={"session": {"fields": ["trace_id"]}},
        models={"registry": str(tmp_path / "registry"), "classifier": False,
                "sequence_kinds": ["sequence-lstm"], "autoencoder_kinds": []},
    )
    service = EnrichmentService(settings, opensearch)
    service.prepare()
    # A pass while the configured sequence model does not exist yet: enriched, with the model named missing.
    before = service.run_pass()
    assert before.enriched == len(history) + len(live)
    missing = all_docs(opensearch, names["logs"])
    assert all(hit["_source"]["enrichment"]["missing_models"] == ["sequence-lstm"] for hit in missing.values())

    untrained = build_pipeline(settings.model_copy(update={"models": settings.models.model_copy(
        update={"sequence_kinds": []})}))
    sessions = collect_sessions(service.source.iter_batches("now-6h", until="now-1h", pending_only=False),
                                untrained, settings, service.source.log_input)
    assert sessions.documents == len(history)
    registry = ModelRegistry(settings.models.registry)
    [trained] = train_anomaly_models(sessions, settings, registry, promote=True, progress=False,
                                     hyper={"calibration_folds": 2, "epochs": 10})
    manifest = trained.manifest
    assert manifest.kind == "sequence-lstm" and trained.thresholds["event"] > 0
    assert registry.promoted_version("sequence-lstm") == manifest.version
    service.state.save_pipeline(service.state_id, {"miner": untrained.miner.to_state()})

    restarted = EnrichmentService(settings, opensearch)
    restarted.prepare()
    report = restarted.run_pass()
    assert report.enriched == len(history) + len(live), "every document that missed the model is enriched again"
    assert restarted.run_pass().documents == 0, "and then no longer pending"
    stored = all_docs(opensearch, names["logs"])
    assert all(hit["_source"]["enrichment"]["missing_models"] == [] for hit in stored.values())
    flagged_traces = {hit["_source"]["trace_id"] for hit in stored.values()
                      if hit["_source"]["enrichment"]["anomaly"]["is_anomaly"]}
    by_model = next(hit for hit in stored.values() if "sequence" in hit["_source"]["enrichment"]["anomaly"]["kind"])
    verdict = by_model["_source"]["enrichment"]["anomaly"]
    assert verdict["sequence"]["model"] == f"sequence-lstm:{manifest.version}" and verdict["reasons"]
    assert 1.0 <= verdict["score"] < 2.0 and verdict["reason_code"], "bounded score, reason codes"
    injected = _injected_traces(live)
    assert injected, "the live sample has anomalous requests"
    assert len(injected & flagged_traces) >= 0.8 * len(injected), "most injected anomalies are found"
    normal_traces = {d["trace_id"] for d in history + live} - injected
    assert len(flagged_traces - injected) <= 0.05 * len(normal_traces), "few normal sessions are flagged"


def _injected_traces(docs):
    flows = {}
    for doc in docs:
        flows.setdefault(doc["trace_id"], []).append(doc)
    injected = set()
    for trace, events in flows.items():
        messages = [e["message"] for e in events]
        failed = any(e["level"] in ("ERROR", "CRITICAL") for e in events)
        reordered = len(messages) > 1 and messages[1].startswith("Completed")
        stuck = len(messages) == 3 and all(m.startswith("Received") for m in messages)
        if failed or reordered or stuck:
            injected.add(trace)
    return injected
