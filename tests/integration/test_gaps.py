"""Nothing silently left behind: documents the service once skipped for good, on the real local OpenSearch.

Each test here failed before the fix it guards (checkpoint past failed writes, a future-dated document,
late arrivals, a model missing for a pass, a non-date timestamp, totals overwritten, template records
aborting a pass, novelty lost between registering a template and writing its document).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from opensearchpy import helpers

from enricher.orchestration.service import EnrichmentService

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def load(client, index, docs, timestamp_type="date"):
    if not client.indices.exists(index=index):
        client.indices.create(index=index, body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {"properties": {"@timestamp": {"type": timestamp_type}, "message": {"type": "text"}}},
        })
    helpers.bulk(client, ({"_index": index, "_id": doc_id, "_source": doc} for doc_id, doc in docs.items()),
                 refresh="wait_for")


def events(prefix, count, start, step=timedelta(seconds=1)):
    return {f"{prefix}{i}": {"@timestamp": iso(start + i * step), "message": f"Job {i} finished on node-{i % 3}"}
            for i in range(count)}


def enriched(client, index):
    client.indices.refresh(index=index)
    hits = helpers.scan(client, index=index, query={"query": {"exists": {"field": "enrichment.status"}}})
    return {hit["_id"]: hit["_source"]["enrichment"] for hit in hits}


@pytest.fixture
def new_service(opensearch, make_settings):
    def build(**overrides):
        service = EnrichmentService(make_settings(**overrides), opensearch)
        service.prepare()
        return service
    return build


def test_documents_of_a_write_blocked_index_are_enriched_once_the_block_lifts(opensearch, names, new_service):
    blocked, open_ = names["logs"] + "-a", names["logs"] + "-b"
    load(opensearch, blocked, events("old", 50, NOW - timedelta(hours=3)))
    load(opensearch, open_, events("new", 50, NOW - timedelta(minutes=30)))
    opensearch.indices.put_settings(index=blocked, body={"index.blocks.write": True})
    try:
        service = new_service(source={"late_arrival": "PT1S"}, sink={"max_retries": 1})
        report = service.run_pass()
        assert report.write_failures == 50 and report.enriched == 50
        assert report.documents == 100, "a document that failed is not re-read by every sweep of the pass"
    finally:
        opensearch.indices.put_settings(index=blocked, body={"index.blocks.write": False})
    assert new_service(source={"late_arrival": "PT1S"}).run_pass().enriched == 50
    assert len(enriched(opensearch, blocked)) == 50


def test_a_document_dated_in_the_future_does_not_hide_newer_ones(opensearch, names, new_service):
    load(opensearch, names["logs"], {"future": {"@timestamp": "2999-01-01T00:00:00Z", "message": "Clock skew"},
                                     **events("a", 10, NOW - timedelta(minutes=10))})
    service = new_service(source={"late_arrival": "PT1S"})
    assert service.run_pass().enriched == 11
    load(opensearch, names["logs"], events("b", 10, datetime.now(timezone.utc)))  # after the pass
    assert new_service(source={"late_arrival": "PT1S"}).run_pass().enriched == 10


def test_late_arrivals_behind_the_checkpoint_are_reported_then_caught_up(opensearch, names, new_service):
    load(opensearch, names["logs"], events("a", 20, NOW - timedelta(minutes=5)))
    settings = {"source": {"late_arrival": "PT1S", "catchup_interval": "PT1H"}}
    service = new_service(**settings)
    assert service.run_pass().catchup, "a process's first pass sweeps the whole window"
    load(opensearch, names["logs"], events("late", 7, NOW - timedelta(hours=2)))  # arrives two hours late
    status = new_service(**settings).status()
    assert status["pending_behind_checkpoint"] == 7 and status["pending_ahead_of_checkpoint"] == 0
    narrow = service.run_pass()
    assert not narrow.catchup and narrow.enriched == 0, "the narrow sweep does not reach them..."
    catchup = new_service(**settings).run_pass()  # a restart, or the next catchup_interval
    assert catchup.catchup and catchup.enriched == 7, "...the catch-up sweep does"
    assert new_service(**settings).status()["pending_documents"] == 0


def test_an_index_with_a_text_timestamp_is_reported_and_the_others_enriched(opensearch, names, new_service):
    good, bad = names["logs"] + "-good", names["logs"] + "-bad"
    load(opensearch, good, events("g", 10, NOW - timedelta(minutes=1)))
    load(opensearch, bad, events("b", 10, NOW - timedelta(minutes=1)), timestamp_type="text")
    service = new_service()
    report = service.run_pass()
    assert report.enriched == 10
    assert "not as a date" in report.excluded_indices[bad]
    assert bad in service.status()["excluded_indices"]


def test_totals_of_two_workers_add_up(opensearch, names, new_service):
    load(opensearch, names["logs"], events("a", 300, NOW - timedelta(minutes=20)))
    first = new_service(source={"batch_size": 50}, schedule={"max_batches_per_pass": 2})
    second = new_service(source={"batch_size": 50})
    assert first.run_pass().enriched == 100
    assert second.run_pass().enriched == 200
    status = second.status()
    assert status["totals"]["enriched"] == 300 and status["checkpoint"]["documents_enriched"] == 300


class FlakyTemplateBulk:
    """The real client, except that the first bulk into the templates index answers each item with 429."""

    def __init__(self, client, templates_index):
        self._client, self._index, self.rejected = client, templates_index, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def bulk(self, body, **kwargs):
        if self._index in body and not self.rejected:
            lines = [line for line in body.strip().split("\n") if '"create"' in line]
            self.rejected = len(lines)
            import json
            items = [{"create": {"_index": self._index, "_id": json.loads(line)["create"]["_id"], "status": 429,
                                 "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}}
                     for line in lines]
            return {"errors": True, "items": items}
        return self._client.bulk(body=body, **kwargs)


def test_template_records_rejected_under_load_are_retried_not_fatal(opensearch, names, make_settings):
    load(opensearch, names["logs"], events("a", 30, NOW - timedelta(minutes=1)))
    client = FlakyTemplateBulk(opensearch, names["templates"])
    service = EnrichmentService(make_settings(sink={"initial_backoff_seconds": 0.01}), client)
    service.prepare()
    report = service.run_pass()
    assert client.rejected > 0 and report.enriched == 30
    novel = [e for e in enriched(opensearch, names["logs"]).values() if e["template"]["novel"]]
    assert len(novel) == len({e["template"]["id"] for e in novel}) >= 1


def test_novelty_survives_a_crash_between_registering_a_template_and_writing_its_document(
        opensearch, names, new_service):
    load(opensearch, names["logs"], {"only": {"@timestamp": iso(NOW), "message": "Fan 3 stopped spinning"}})
    crashed = new_service()
    batch = next(crashed.source.iter_batches(None))
    crashed._enrich(batch)  # registers the template, then "dies" before writing
    crashed.save_pipeline_state()  # even with a miner state that already knows the template
    report = new_service().run_pass()
    assert report.enriched == 1 and report.novel_templates == 1
    assert enriched(opensearch, names["logs"])["only"]["template"]["novel"] is True


def test_templates_not_seen_within_the_retention_are_evicted(opensearch, names, new_service):
    load(opensearch, names["logs"], {"a": {"@timestamp": iso(NOW), "message": "Fan 3 stopped spinning"},
                                     "b": {"@timestamp": iso(NOW), "message": "Disk sda is full"}})
    service = new_service()
    service.run_pass()
    templates = names["templates"]
    opensearch.indices.refresh(index=templates)
    ids = [hit["_id"] for hit in opensearch.search(index=templates)["hits"]["hits"]]
    assert len(ids) == 2
    opensearch.update(index=templates, id=ids[0], body={"doc": {"last_seen": "2020-01-01"}}, refresh=True)
    assert service.templates.store.evict_unseen(timedelta(days=30), NOW) == 1
    opensearch.indices.refresh(index=templates)
    assert [hit["_id"] for hit in opensearch.search(index=templates)["hits"]["hits"]] == ids[1:]
