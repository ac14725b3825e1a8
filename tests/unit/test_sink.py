"""The sink's retry and conflict handling, against a scripted fake of the _bulk endpoint."""

from __future__ import annotations

import json

import pytest
from opensearchpy.exceptions import TransportError
from opensearchpy.serializer import JSONSerializer

from enricher.config import SinkConfig
from enricher.sink import BulkSink, DocumentUpdate


class ScriptedBulk:
    """Answers each _bulk call from a script: a list of per-item statuses, or an exception to raise."""

    def __init__(self, script):
        self.script = list(script)
        self.calls: list[list[dict]] = []

        class Transport:
            serializer = JSONSerializer()

        self.transport = Transport()

    def bulk(self, body, **kwargs):
        lines = [json.loads(line) for line in body.strip().split("\n")]
        actions = [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]
        self.calls.append([meta for meta, _ in actions])
        step = self.script.pop(0) if self.script else "all-ok"
        if isinstance(step, Exception):
            raise step
        statuses = [200] * len(actions) if step == "all-ok" else step
        items = []
        for (meta, _), status in zip(actions, statuses):
            target = meta["update"]
            item = {"_index": target["_index"], "_id": target["_id"], "status": status}
            if status >= 300:
                item["error"] = {"type": {409: "version_conflict_engine_exception", 429: "es_rejected_execution_exception",
                                          503: "unavailable_shards_exception"}.get(status, "mapper_parsing_exception"),
                                 "reason": f"status {status}"}
            items.append({"update": item})
        return {"errors": any(s >= 300 for s in statuses), "items": items}


def updates(n):
    return [DocumentUpdate("logs", f"d{i}", seq_no=i, primary_term=1, fields={"status": "ok"}) for i in range(n)]


def sink(client, **config):
    return BulkSink(client, SinkConfig(initial_backoff_seconds=0.001, max_backoff_seconds=0.001, **config),
                    sleep=lambda _: None)


def test_writes_only_the_namespace_with_version_checks():
    client = ScriptedBulk([])
    report = sink(client).write(updates(3))
    assert report.written == 3 and not report.conflicts and not report.failed
    meta = client.calls[0][0]["update"]
    assert meta["if_seq_no"] == 0 and meta["if_primary_term"] == 1


def test_per_item_429_and_503_are_retried_until_written():
    client = ScriptedBulk([[200, 429, 503], [200, 503], "all-ok"])
    report = sink(client).write(updates(3))
    assert report.written == 3 and not report.failed
    retried_ids = [[m["update"]["_id"] for m in call] for call in client.calls]
    assert retried_ids[0] == ["d0", "d1", "d2"]
    assert "d0" not in sum(retried_ids[1:], []), "a written document is never sent again"


def test_whole_request_rejection_is_retried():
    client = ScriptedBulk([TransportError(503, "unavailable"), TransportError(429, "too many"), "all-ok"])
    report = sink(client).write(updates(2))
    assert report.written == 2 and report.retries >= 1


def test_conflicts_are_returned_and_permanent_errors_reported():
    client = ScriptedBulk([[409, 400, 200]])
    report = sink(client).write(updates(3))
    assert [u.doc_id for u in report.conflicts] == ["d0"]
    assert [(u.doc_id, reason.split(":")[0]) for u, reason in report.failed] == [("d1", "mapper_parsing_exception")]
    assert report.written == 1


def test_gives_up_after_max_retries_with_the_reason():
    client = ScriptedBulk([[503]] * 10)
    report = sink(client, max_retries=2).write(updates(1))
    assert report.written == 0 and report.failed[0][1].startswith("unavailable_shards_exception")


def test_non_transient_request_errors_propagate():
    client = ScriptedBulk([TransportError(400, "bad request")])
    with pytest.raises(TransportError):
        sink(client).write(updates(1))
