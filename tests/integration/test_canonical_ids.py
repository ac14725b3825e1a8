"""One id per event type: documents written before their template generalised take its current id."""

from __future__ import annotations

import pytest
from opensearchpy import helpers

from enricher.orchestration.service import EnrichmentService

pytestmark = pytest.mark.integration

ROOT = "session opened for user root by (uid=0)"
OTHERS = [f"session opened for user {user} by (uid=0)" for user in ("alice", "bob", "carol", "dave")]


def load(client, index, messages, start=0):
    actions = ({"_index": index, "_id": f"d{start + i:03d}",
                "_source": {"@timestamp": f"2026-01-01T00:{start + i:02d}:00Z", "message": message}}
               for i, message in enumerate(messages))
    helpers.bulk(client, actions, refresh="wait_for")


def templates_of(client, index):
    client.indices.refresh(index=index)
    hits = helpers.scan(client, index=index, query={"query": {"match_all": {}}})
    return {hit["_id"]: hit["_source"]["enrichment"]["template"] for hit in hits}


def test_documents_of_a_template_that_generalised_later_take_its_id_and_stay_novel_once(
        opensearch, names, make_settings):
    load(opensearch, names["logs"], [ROOT, ROOT, "disk sda1 is full"])
    service = EnrichmentService(make_settings(source={"lookback": None}), opensearch)
    service.prepare()
    service.run_pass()
    first = templates_of(opensearch, names["logs"])
    specific = first["d000"]["id"]
    assert first["d001"]["id"] == specific and first["d000"]["novel"] and not first["d001"]["novel"]

    load(opensearch, names["logs"], OTHERS, start=3)  # four more users: "user <*>" becomes a variable
    service.run_pass()

    after = templates_of(opensearch, names["logs"])
    sessions = {doc_id: t for doc_id, t in after.items() if doc_id != "d002"}
    ids = {t["id"] for t in sessions.values()}
    assert len(ids) == 1 and specific not in ids, "every document of the event type carries one, current id"
    (general,) = ids
    assert {t["text"] for t in sessions.values()} == {"session opened for user <*> by (uid=<*>)"}
    assert [doc_id for doc_id, t in sorted(sessions.items()) if t["novel"]] == ["d003"], \
        "one novel document per id: the current id's first; d000 was novel under the id that is gone"
    assert after["d002"]["novel"] and after["d002"]["id"] != general

    opensearch.indices.refresh(index=names["templates"])
    alias = opensearch.get(index=names["templates"], id=specific)["_source"]
    assert alias["canonical_id"] == general and alias["rekeyed"] is True, "the old id resolves in the templates index"
    record = opensearch.get(index=names["templates"], id=general)["_source"]
    assert record["first_doc"]["id"] == "d003" and record["confirmed"] is True
    assert opensearch.count(index=names["templates"], body={"query": {"term": {"canonical_id": general}}})["count"] >= 1
    assert service.metrics.rekeyed._value.get() == 2  # d000, d001
    status = service.status()
    assert status["template_aliases"] >= 1 and status["aliases_to_rekey"] == 0
    assert status["known_templates"] == 2, "the session template and the disk one; aliases are not templates"


def test_a_second_generalisation_repoints_earlier_aliases(opensearch, names, make_settings):
    load(opensearch, names["logs"], [ROOT])
    service = EnrichmentService(make_settings(), opensearch)
    service.prepare()
    service.run_pass()
    first_id = templates_of(opensearch, names["logs"])["d000"]["id"]
    load(opensearch, names["logs"], OTHERS, start=1)
    service.run_pass()
    second_id = templates_of(opensearch, names["logs"])["d000"]["id"]
    # The word after the user varies too: "user <*> <*>" (the earlier alias must lead to this id, in one hop).
    load(opensearch, names["logs"], [f"session opened for user {user} {word} (uid=0)" for user, word in
                                     (("erin", "from"), ("frank", "with"), ("gina", "as"), ("hal", "at"))], start=5)
    service.run_pass()
    final = templates_of(opensearch, names["logs"])
    current = final["d000"]["id"]
    assert len({first_id, second_id, current}) == 3
    assert {t["id"] for t in final.values()} == {current}
    assert len([doc_id for doc_id, t in final.items() if t["novel"]]) == 1
    opensearch.indices.refresh(index=names["templates"])
    for old in (first_id, second_id):
        assert opensearch.get(index=names["templates"], id=old)["_source"]["canonical_id"] == current
