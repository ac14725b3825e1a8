"""The fault proxy itself: each fault does what the other tests rely on."""

from __future__ import annotations

import pytest
from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import TransportError

pytestmark = [pytest.mark.faults, pytest.mark.integration]


@pytest.fixture
def client(proxy) -> OpenSearch:
    return OpenSearch(hosts=[proxy.url], max_retries=0, timeout=30)


def test_bulk_item_rejections_apply_or_not_as_asked(client, opensearch, fnames, proxy):
    index = fnames.index("logs-proxy")
    client.indices.create(index=index, body={"settings": {"number_of_replicas": 0}})
    dropped = proxy.add("reject_items", ops=("index",), status=429, share=0.3)
    lied = proxy.add("reject_items", ops=("index",), status=503, share=0.3, applied=True)
    ok, errors = helpers.bulk(client, ({"_index": index, "_id": str(i), "n": i} for i in range(200)),
                              raise_on_error=False, max_retries=0)
    statuses = sorted({next(iter(e.values()))["status"] for e in errors})
    assert statuses == [429, 503] and len(errors) == dropped.hits + lied.hits and ok == 200 - len(errors)
    opensearch.indices.refresh(index=index)
    assert opensearch.count(index=index)["count"] == 200 - dropped.hits, "rejected items must not be applied"


def test_answer_drop_and_down(client, proxy):
    proxy.add("answer", status=429, limit=1)
    with pytest.raises(TransportError) as refused:
        client.info()
    assert refused.value.status_code == 429
    proxy.add("drop", limit=1)
    with pytest.raises(OSConnectionError):
        client.info()
    proxy.down(60)
    with pytest.raises(OSConnectionError):
        client.info()
    proxy.up()
    assert client.info()["version"]["number"]
    assert proxy.down_hits == 1
