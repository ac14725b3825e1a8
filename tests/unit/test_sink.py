"""The sink's retries and per-document outcomes, against a scripted fake of the _bulk endpoint."""

from __future__ import annotations

import json
import logging

import pytest
from opensearchpy.exceptions import TransportError
from opensearchpy.serializer import JSONSerializer

from enricher.config import SinkConfig
from enricher.cluster.sink import BulkSink, DocumentUpdate, Outcome


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
                                          403: "cluster_block_exception", 503: "unavailable_shards_exception"}.get(
                                     status, "mapper_parsing_exception"), "reason": f"status {status}"}
            items.append({"update": item})
        return {"errors": any(s >= 300 for s in statuses), "items": items}


def updates(n):
    return [DocumentUpdate("logs", f"d{i}", seq_no=i, primary_term=1, fields={"status": "ok"}) for i in range(n)]


def sink(client, retried=None, **config):
    return BulkSink(client, SinkConfig(initial_backoff_seconds=0.001, max_backoff_seconds=0.001, **config),
                    sleep=lambda _: None, on_retry=(retried.append if retried is not None else lambda n: None))


def outcomes(results):
    return {r.update.doc_id: r.outcome for r in results}


def test_writes_only_the_namespace_with_version_checks():
    client = ScriptedBulk([])
    assert set(outcomes(sink(client).write(updates(3))).values()) == {Outcome.WRITTEN}
    meta = client.calls[0][0]["update"]
    assert meta["if_seq_no"] == 0 and meta["if_primary_term"] == 1


def test_per_item_429_and_503_are_retried_until_written():
    client = ScriptedBulk([[200, 429, 503], [200, 503], "all-ok"])
    assert outcomes(sink(client).write(updates(3))) == {f"d{i}": Outcome.WRITTEN for i in range(3)}
    retried_ids = [[m["update"]["_id"] for m in call] for call in client.calls]
    assert retried_ids == [["d0", "d1", "d2"], ["d1", "d2"], ["d2"]], "a written document is never sent again"


def test_one_policy_bounds_the_sends_of_a_persistent_429():
    client = ScriptedBulk([[429]] * 50)
    results = list(sink(client, max_retries=3).write(updates(1)))
    assert [r.outcome for r in results] == [Outcome.PENDING]
    assert len(client.calls) == 4, "one send plus max_retries, not retries multiplied by retry layers"


def test_outcomes_name_conflicts_blocks_and_permanent_refusals():
    client = ScriptedBulk([[409, 400, 200, 403, 404]])
    results = {r.update.doc_id: r for r in sink(client).write(updates(5))}
    assert {k: r.outcome for k, r in results.items()} == {
        "d0": Outcome.CONFLICT, "d1": Outcome.REJECTED, "d2": Outcome.WRITTEN, "d3": Outcome.PENDING,
        "d4": Outcome.GONE}
    assert results["d1"].reason.startswith("mapper_parsing_exception")
    assert len(client.calls) == 1, "a write block is not retried within the pass: a later pass does"


def test_a_failed_request_is_raised_to_the_caller_not_retried_again_here():
    # Whole requests are retried by the client's transport (one layer); the sink must not add another.
    client = ScriptedBulk([TransportError(503, "unavailable"), "all-ok"])
    with pytest.raises(TransportError):
        list(sink(client).write(updates(1)))
    assert len(client.calls) == 1


def test_pushback_is_logged_once_per_round_with_counts(caplog):
    client = ScriptedBulk([[429] * 30 + [200] * 70, "all-ok"])
    with caplog.at_level(logging.WARNING, logger="enricher.cluster.sink"):
        list(sink(client).write(updates(100)))
    (record,) = [r for r in caplog.records if "pushed back" in r.getMessage()]
    assert "30 of 100" in record.getMessage() and "es_rejected_execution_exception" in record.getMessage()
