"""Several log sources in one index: partitioned miners through the service keep each source's grouping."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone

import pytest
from opensearchpy import helpers

from enricher.config import TemplatesConfig
from enricher.orchestration.service import EnrichmentService
from enricher.templates import TemplateMiner

pytestmark = [pytest.mark.integration, pytest.mark.data]

SOURCES = ("OpenSSH", "Zookeeper", "Apache", "HDFS")


def grouping_accuracy(truth: list[str], predicted: list[str]) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true group (Loghub's GA)."""
    true_groups: dict[str, set[int]] = {}
    predicted_groups: dict[str, set[int]] = {}
    for i, (t, p) in enumerate(zip(truth, predicted)):
        true_groups.setdefault(t, set()).add(i)
        predicted_groups.setdefault(p, set()).add(i)
    correct = sum(len(members) for members in predicted_groups.values()
                  if true_groups[truth[next(iter(members))]] == members)
    return correct / len(truth)


def test_sources_sharing_an_index_keep_the_grouping_they_get_alone(opensearch, names, make_settings, shared_data):
    rows = {}
    for name in SOURCES:
        with (shared_data / "loghub" / name / f"{name}_2k.log_structured.csv").open(newline="", encoding="utf-8") as f:
            rows[name] = list(csv.DictReader(f))
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    interleaved = [(name, i, rows[name][i]) for i in range(2000) for name in SOURCES]  # the sources mixed in time
    opensearch.indices.create(index=names["logs"], body={"mappings": {"properties": {
        "@timestamp": {"type": "date"}, "message": {"type": "text"}, "service": {"properties": {
            "name": {"type": "keyword"}}}}}})
    helpers.bulk(opensearch, ({"_index": names["logs"], "_id": f"{name}-{i}", "_source": {
        "@timestamp": (start + timedelta(milliseconds=k)).isoformat(), "message": row["Content"], "service": {"name": name}}}
        for k, (name, i, row) in enumerate(interleaved)), refresh="wait_for")

    service = EnrichmentService(make_settings(source={"batch_size": 1000}), opensearch)
    service.prepare()
    assert service.run_pass().enriched == 2000 * len(SOURCES)

    opensearch.indices.refresh(index=names["logs"])
    written = {hit["_id"]: hit["_source"]["enrichment"]["template"]["id"]
               for hit in helpers.scan(opensearch, index=names["logs"], _source_includes=["enrichment.template.id"])}
    for name in SOURCES:
        truth = [row["EventId"] for row in rows[name]]
        # Ids as the service wrote them: a template that generalised later is followed to its final id.
        through_service = [service.pipeline.miner.canonical_id(written[f"{name}-{i}"]) for i in range(2000)]
        alone = TemplateMiner(TemplatesConfig())
        ids = [alone.add(row["Content"]).template_id for row in rows[name]]
        mined_alone = [alone.canonical_id(template_id) for template_id in ids]
        service_ga, alone_ga = grouping_accuracy(truth, through_service), grouping_accuracy(truth, mined_alone)
        print(f"{name}: GA through the service {service_ga:.3f}, mined alone {alone_ga:.3f}")
        assert service_ga >= alone_ga - 0.005, name
