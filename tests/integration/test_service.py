"""The service end to end against the real local OpenSearch (scripts/opensearch.sh start)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from opensearchpy import helpers

from enricher.cluster.mappings import install_mappings
from enricher.samples import generate
from enricher.orchestration.service import EnrichmentService

pytestmark = pytest.mark.integration


def load(client, index, docs):
    client.indices.create(index=index, body={
        "settings": {"number_of_shards": 2, "number_of_replicas": 0},
        "mappings": {"properties": {"@timestamp": {"type": "date"}, "message": {"type": "text"},
                                    "trace_id": {"type": "keyword"}, "level": {"type": "keyword"}}},
    })
    actions = ({"_index": index, "_id": f"d{i:06d}", "_source": doc} for i, doc in enumerate(docs))
    helpers.bulk(client, actions, refresh="wait_for")


def all_docs(client, index):
    client.indices.refresh(index=index)
    hits = helpers.scan(client, index=index, query={"query": {"match_all": {}}}, params={"version": "true"})
    return {hit["_id"]: hit for hit in hits}


def sample_docs(count, malformed=False):
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    return list(generate(count, start=start, seed=3, anomaly_rate=0.05, malformed=malformed))


def test_documents_are_enriched_end_to_end_and_originals_untouched(opensearch, names, make_settings):
    docs = sample_docs(600, malformed=True)
    load(opensearch, names["logs"], docs)
    service = EnrichmentService(make_settings(), opensearch)
    service.prepare()

    report = service.run_pass()

    stored = all_docs(opensearch, names["logs"])
    assert report.documents == len(docs) == len(stored)
    assert report.errors == 3 and report.enriched == len(docs) - 3
    for i, original in enumerate(docs):
        hit = stored[f"d{i:06d}"]
        source = dict(hit["_source"])
        enrichment = source.pop("enrichment")
        assert source == original, "original fields must never change"
        assert hit["_version"] == 2, "exactly one update per document"
        assert enrichment["pipeline_version"] == "1"
        assert enrichment["model_versions"][0].startswith("templates:")
        if isinstance(original.get("message"), str) and len(original["message"]) < 1000:
            assert enrichment["status"] == "ok"
            assert len(enrichment["template"]["id"]) >= 8
            assert "<*>" in enrichment["template"]["text"] or enrichment["template"]["params"] == []
        else:
            assert enrichment["status"] == "error" and enrichment["error"]
    reasons = sorted(stored[f"d{i:06d}"]["_source"]["enrichment"]["error"] for i in range(len(docs) - 3, len(docs)))
    assert reasons[0].startswith("message is 100000 bytes")
    assert reasons[1].startswith("message is a int")
    assert reasons[2].startswith("no message")
    # A second pass finds nothing left to do.
    assert service.run_pass().documents == 0


def test_same_template_gets_same_id_and_one_novel_flag(opensearch, names, make_settings):
    docs = [{"@timestamp": f"2026-01-01T00:00:{i:02d}Z", "message": f"Connection from 10.0.0.{i} closed after {i * 7} ms"}
            for i in range(1, 40)]
    load(opensearch, names["logs"], docs)
    service = EnrichmentService(make_settings(), opensearch)
    service.prepare()
    service.run_pass()
    stored = all_docs(opensearch, names["logs"])
    templates = {hit["_source"]["enrichment"]["template"]["id"] for hit in stored.values()}
    novel = [hit for hit in stored.values() if hit["_source"]["enrichment"]["template"]["novel"]]
    assert len(novel) == 1, "only the first document of a new template is novel"
    assert len(templates) == 1, "documents written before the template generalised carry its current id too"


def test_restart_mid_run_neither_skips_nor_double_applies(opensearch, names, make_settings):
    docs = sample_docs(1000)
    load(opensearch, names["logs"], docs)
    settings = make_settings(source={"batch_size": 50}, schedule={"max_batches_per_pass": 3})
    first = EnrichmentService(settings, opensearch)
    first.prepare()
    assert first.run_pass().documents == 150  # then "stops"

    settings = make_settings(source={"batch_size": 50})
    restarted = EnrichmentService(settings, opensearch)
    restarted.prepare()
    assert restarted.checkpoint.last_timestamp is not None, "the checkpoint was saved in OpenSearch"
    assert restarted.run_pass().documents == len(docs) - 150

    stored = all_docs(opensearch, names["logs"])
    assert all(hit["_version"] == 2 for hit in stored.values())
    assert all(hit["_source"]["enrichment"]["status"] == "ok" for hit in stored.values())


def _write_config(tmp_path, names, **source):
    config = {
        "opensearch": {"hosts": [os.environ.get("ENRICHER_TEST_OPENSEARCH", "http://127.0.0.1:9200")]},
        "state_index": names["state"], "templates_index": names["templates"],
        "source": {"index_patterns": [names["pattern"]], "lookback": None, **source},
        "models": {"registry": str(tmp_path / "registry")},
        "schedule": {"interval_seconds": 1},
        "findings": {"index": names["findings"]},
        "log_format": "json",
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _enricher(*args):
    return [sys.executable, "-m", "enricher.cli.main", *args]


def test_killed_process_resumes_without_loss_or_double_writes(opensearch, names, make_settings, tmp_path):
    docs = sample_docs(6000)
    load(opensearch, names["logs"], docs)
    config = _write_config(tmp_path, names, batch_size=100)
    process = subprocess.Popen(_enricher("once", "--config", str(config), "--no-progress"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it once it has written something, before it is done
        opensearch.indices.refresh(index=names["logs"])
        done = opensearch.count(index=names["logs"], body={"query": {"exists": {"field": "enrichment.status"}}})["count"]
        if done >= 300 or process.poll() is not None:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    opensearch.indices.refresh(index=names["logs"])
    partial = opensearch.count(index=names["logs"], body={"query": {"exists": {"field": "enrichment.status"}}})["count"]
    assert 0 < partial < len(docs), f"the kill should land mid-run (enriched {partial})"

    result = subprocess.run(_enricher("once", "--config", str(config), "--no-progress", "--json"),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    stored = all_docs(opensearch, names["logs"])
    assert len(stored) == len(docs)
    assert all(hit["_source"]["enrichment"]["status"] == "ok" for hit in stored.values())
    assert all(hit["_version"] == 2 for hit in stored.values()), "no document was updated twice"


def test_concurrent_update_during_enrichment_is_not_lost(opensearch, names, make_settings):
    docs = sample_docs(200)
    load(opensearch, names["logs"], docs)
    service = EnrichmentService(make_settings(), opensearch)
    service.prepare()
    enrich = service._enrich
    raced = {}

    def enrich_while_someone_writes(batch):
        results = enrich(batch)
        if not raced:  # between our read and our write, another client edits two documents
            raced["tag"] = batch[0].doc_id
            raced["message"] = batch[1].doc_id
            opensearch.update(index=names["logs"], id=batch[0].doc_id, body={"doc": {"tags": ["triaged"]}})
            opensearch.update(index=names["logs"], id=batch[1].doc_id,
                              body={"doc": {"message": "Disk /dev/sda1 is 99% full on host db-7"}})
        return results

    service._enrich = enrich_while_someone_writes
    report = service.run_pass()

    assert report.conflicts == 2
    stored = all_docs(opensearch, names["logs"])
    tagged = stored[raced["tag"]]["_source"]
    assert tagged["tags"] == ["triaged"] and tagged["enrichment"]["status"] == "ok"
    edited = stored[raced["message"]]["_source"]
    assert edited["message"].startswith("Disk /dev/sda1")
    assert edited["enrichment"]["template"]["text"].startswith("Disk"), "re-enriched from the new message"
    assert all("enrichment" in hit["_source"] for hit in stored.values())


def test_mappings_install_twice_without_change(opensearch, names, make_settings):
    load(opensearch, names["logs"], sample_docs(10))
    settings = make_settings()
    first = install_mappings(opensearch, settings)
    second = install_mappings(opensearch, settings)
    assert any(names["logs"] in item for item in first.changed)
    assert second.changed == []
    mapping = opensearch.indices.get_mapping(index=names["logs"])[names["logs"]]["mappings"]
    enrichment = mapping["properties"]["enrichment"]["properties"]
    assert enrichment["template"]["properties"]["id"]["type"] == "keyword"
    assert enrichment["anomaly"]["properties"]["is_anomaly"]["type"] == "boolean"


def test_conflicting_mapping_names_index_and_field(opensearch, names, make_settings):
    opensearch.indices.create(index=names["logs"], body={
        "mappings": {"properties": {"enrichment": {"properties": {"template": {"properties": {"id": {"type": "long"}}}}}}}
    })
    report = install_mappings(opensearch, make_settings())  # reported, not raised: other indices go on
    assert list(report.conflicts) == [names["logs"]] and "enrichment.template.id" in report.conflicts[names["logs"]]


def test_run_stops_cleanly_on_sigterm(opensearch, names, tmp_path):
    load(opensearch, names["logs"], sample_docs(300))
    config = _write_config(tmp_path, names)
    process = subprocess.Popen(_enricher("run", "--config", str(config)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        opensearch.indices.refresh(index=names["logs"])
        if opensearch.count(index=names["logs"], body={"query": {"exists": {"field": "enrichment.status"}}})["count"] >= 300:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert b"pass finished" in stderr


def test_documents_with_equal_timestamps_on_several_shards_are_all_enriched(opensearch, names, make_settings):
    docs = [{"@timestamp": "2026-03-01T10:00:00Z", "message": f"Worker {i} heartbeat"} for i in range(1500)]
    load(opensearch, names["logs"], docs)  # two shards, one timestamp: the paging tie-breaker at work
    service = EnrichmentService(make_settings(source={"batch_size": 37}), opensearch)
    service.prepare()
    assert service.run_pass().enriched == len(docs)  # ties passed over at page boundaries: swept again
    stored = all_docs(opensearch, names["logs"])
    assert all(hit["_version"] == 2 for hit in stored.values())
