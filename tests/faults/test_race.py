"""(e, g6) Two workers racing on the same documents, with a third client editing them meanwhile."""

from __future__ import annotations

import random
import threading

import pytest

from .helpers import (NAMESPACE, check_enriched_once, enriched_total, fetch_all, load, novelty_problems,
                      sample_docs, tail)

pytestmark = [pytest.mark.faults, pytest.mark.integration]


class ThirdWriter(threading.Thread):
    """Edits documents' own fields (as an operator's tool would) until stopped; remembers what it wrote."""

    def __init__(self, client, index: str, ids: list[str], message_share: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.client, self.index, self.ids = client, index, ids
        self.rng = random.Random(5)
        self.message_share = message_share
        self.stop = threading.Event()
        self.updates: dict[str, int] = {}  # doc id -> writes that changed it
        self.owner: dict[str, str] = {}
        self.messages: dict[str, str] = {}
        self.error: Exception | None = None

    def run(self) -> None:
        edit = 0
        try:
            while not self.stop.is_set():
                doc_id = self.rng.choice(self.ids)
                edit += 1
                fields = {"owner": f"team-{edit}"}
                if doc_id not in self.messages and self.rng.random() < self.message_share:
                    fields["message"] = f"Disk /dev/sd{edit % 7} is {90 + edit % 10}% full on host db-{edit % 13}"
                response = self.client.update(index=self.index, id=doc_id, body={"doc": fields},
                                              params={"retry_on_conflict": 10})
                if response["result"] == "updated":
                    self.updates[doc_id] = self.updates.get(doc_id, 0) + 1
                    self.owner[doc_id] = fields["owner"]
                    if "message" in fields:
                        self.messages[doc_id] = fields["message"]
        except Exception as exc:  # reported by the test
            self.error = exc


def test_two_workers_and_a_third_writer_lose_no_update(opensearch, enricher, fnames, proxy):
    index = fnames.index("logs-a")
    originals = load(opensearch, index, sample_docs(3000, seed=9), shards=2)
    proxy.add("delay", path=r"/_bulk", seconds=0.05)  # widen the read-to-write window a little
    writer = ThirdWriter(opensearch, index, sorted(originals))
    writer.start()
    config = enricher.config(source={"batch_size": 100})
    workers = [enricher.start("once", config=config) for _ in range(2)]
    codes = [worker.wait(timeout=600) for worker in workers]
    writer.stop.set()
    writer.join(timeout=60)

    assert writer.error is None, f"the third writer failed: {writer.error!r}"
    assert codes == [0, 0], [tail(worker.stderr()) for worker in workers]
    assert len(writer.updates) > 100 and writer.messages, "the third writer should have edited documents meanwhile"
    stored = fetch_all(opensearch, index)
    lost, stale, counts = [], [], []
    for doc_id, original in originals.items():
        source = stored[doc_id]["_source"]
        if doc_id in writer.owner and source.get("owner") != writer.owner[doc_id]:
            lost.append(doc_id)
        if doc_id in writer.messages and source.get("message") != writer.messages[doc_id]:
            lost.append(doc_id)
        enrichment_writes = stored[doc_id]["_version"] - 1 - writer.updates.get(doc_id, 0)
        allowed = 2 if doc_id in writer.messages else 1  # once per message version
        if not 1 <= enrichment_writes <= allowed:
            counts.append((doc_id, enrichment_writes))
        if (source.get(NAMESPACE) or {}).get("status") != "ok":
            stale.append(doc_id)
    assert not lost, f"{len(lost)} updates of the third writer were lost, e.g. {lost[:5]}"
    assert not stale, f"{len(stale)} documents not enriched, e.g. {stale[:5]}"
    assert not counts, f"{len(counts)} documents enriched a wrong number of times (id, writes), e.g. {counts[:5]}"


def _two_workers(opensearch, enricher, fnames, docs: int):
    first, second = fnames.index("logs-a"), fnames.index("logs-b")
    originals = {first: load(opensearch, first, sample_docs(docs // 2, seed=10), shards=2),
                 second: load(opensearch, second, sample_docs(docs - docs // 2, seed=11))}
    config = enricher.config(source={"batch_size": 100})
    workers = [enricher.start("once", config=config) for _ in range(2)]
    codes = [worker.wait(timeout=600) for worker in workers]
    assert codes == [0, 0], [tail(worker.stderr()) for worker in workers]
    stored = {}
    for index, docs_by_id in originals.items():
        here = fetch_all(opensearch, index)
        check_enriched_once(here, docs_by_id)
        stored.update({f"{index}/{doc_id}": hit for doc_id, hit in here.items()})  # both indices have d000012
    reports = [worker.report() for worker in workers]
    return config, originals, stored, reports


def test_status_totals_add_up_over_two_workers(opensearch, enricher, fnames, proxy):
    config, originals, _, reports = _two_workers(opensearch, enricher, fnames, 5000)
    total = sum(len(docs) for docs in originals.values())
    assert sum(report["enriched"] for report in reports) == total, reports
    status = enricher.status(config=config)
    assert enriched_total(status) == total, f"status reports {enriched_total(status)} enriched of {total}: {status}"


def test_two_workers_flag_each_template_novel_once(opensearch, enricher, fnames, proxy):
    _, _, stored, _ = _two_workers(opensearch, enricher, fnames, 5000)
    problems = novelty_problems(stored, opensearch, fnames.templates)
    assert not problems, f"{len(problems)} novelty problems with two workers, e.g. {problems[:5]}"
