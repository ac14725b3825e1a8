"""Synthetic traffic from the VAE (the design's generator) exercises the whole chain: sessions sampled from a
trained VAE, rendered as log lines, indexed with an injected incident, enriched by the real service, and
then found by the findings and drawn by the report."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from opensearchpy import helpers

torch = pytest.importorskip("torch")

from enricher.anomaly import VaeDetector  # noqa: E402
from enricher.anomaly.generate import render_sessions  # noqa: E402
from enricher.findings.render import render, report_data  # noqa: E402
from enricher.orchestration.service import EnrichmentService  # noqa: E402

pytestmark = pytest.mark.integration
torch.set_num_threads(1)

TEMPLATES = {"1": "Opened file <*> for job <*>", "2": "Read <*> bytes from block <*>", "3": "Wrote block <*>",
             "4": "Closed file <*>", "5": "Audit record written for job <*>"}
FAILING = "Block <*> failed checksum verification on datanode <*>"


def training_sessions(n: int = 120, seed: int = 0) -> list[list[str]]:
    """open, 2-4 x (read write), an audit record in half of them, close."""
    rng = random.Random(seed)
    return [["1", *(["2", "3"] * rng.randint(2, 4)), *(["5"] if i % 2 else []), "4"] for i in range(n)]


def test_findings_and_report_on_traffic_the_vae_generated(opensearch, names, make_settings):
    vae = VaeDetector(hidden=16, latent=2, epochs=150, calibration_folds=2, train_prefixes=False, seed=0)
    vae.fit(training_sessions())
    rng = np.random.default_rng(3)
    sessions = vae.sample_sessions(1500, rng)
    assert sum("5" in s for s in sessions) > 200, "the generator keeps the audit step of half the flows"

    now = datetime.now(timezone.utc).replace(microsecond=0)
    history, window = timedelta(hours=6), timedelta(hours=2)
    start, silence_from = now - history - window, now - timedelta(minutes=60)
    starts = sorted(start + timedelta(seconds=float(s)) for s in rng.uniform(0, (history + window).total_seconds(),
                                                                             len(sessions)))
    docs = []
    for event in render_sessions(sessions, TEMPLATES, rng):
        at = starts[event.session] + timedelta(seconds=event.event)
        if event.template_id == "5" and at >= silence_from:
            continue  # injected: the audit step stops (a stuck flow)
        docs.append({"@timestamp": at.isoformat(), "message": event.message, "level": "INFO",
                     "host": {"name": f"dn-{event.session % 3}"}, "trace_id": f"flow-{event.session}"})
    burst_at = now - timedelta(minutes=45)
    for i in range(60):  # injected: a new failing code path on one datanode
        docs.append({"@timestamp": (burst_at + timedelta(seconds=10 * i)).isoformat(), "level": "ERROR",
                     "message": FAILING.replace("<*>", f"blk_{7000 + i}", 1).replace("<*>", "dn-2"),
                     "host": {"name": "dn-2"}, "trace_id": f"fail-{i}"})
    opensearch.indices.create(index=names["logs"], body={"mappings": {"properties": {"@timestamp": {"type": "date"}}}})
    helpers.bulk(opensearch, ({"_index": names["logs"], "_source": doc} for doc in docs), refresh="wait_for")

    settings = make_settings(source={"batch_size": 1000, "session": {"fields": ["trace_id"]}},
                             findings={"index": names["findings"], "window": window, "baseline": history,
                                       "settle": timedelta(0)})
    service = EnrichmentService(settings, opensearch)
    service.prepare()
    assert service.run_pass().enriched == len(docs)

    result = service.findings.last_report
    by_type: dict[str, list[dict]] = {}
    for finding in result.findings:
        by_type.setdefault(finding["type"], []).append(finding)
    assert any("checksum" in f["template"]["text"] for f in by_type.get("new_template_burst", [])), by_type.keys()
    assert any("Audit record" in f["template"]["text"] for f in by_type.get("silence", [])), by_type.keys()
    failing = next(f for f in by_type["new_template_burst"] if "checksum" in f["template"]["text"])
    incident = next(i for i in result.incidents if any(c["value"] == failing["template"]["id"] for c in i["causes"][:3]))
    assert incident["doc_ids"]
    page = render(report_data(result), "markdown")
    assert "checksum" in page and "Audit record" in page
