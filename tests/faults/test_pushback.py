"""(c) 429/503 storms, dropped connections, and writes applied but answered with 429."""

from __future__ import annotations

import pytest

from .helpers import tail, check_enriched_once, fetch_all, load, pushback_lines, sample_docs

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_bulk_item_rejections_storm_loses_nothing_and_is_logged(opensearch, enricher, fnames, proxy):
    index = fnames.index("logs-a")
    docs = load(opensearch, index, sample_docs(1500, seed=4), shards=2)
    rejected_429 = proxy.add("reject_items", ops=("update",), status=429, share=0.3)
    rejected_503 = proxy.add("reject_items", ops=("update",), status=503, share=0.1)

    result = enricher.once(source={"batch_size": 500})

    assert rejected_429.hits > 100 and rejected_503.hits > 30, "the storm should have hit the pass"
    assert result.returncode == 0, tail(result.stderr)
    report = result.report
    assert report["enriched"] == len(docs), report
    assert report["write_failures"] == 0 and report["already_enriched"] == 0, report
    check_enriched_once(fetch_all(opensearch, index), docs)
    lines = pushback_lines(result.logs())
    assert lines, "the pass should log that the cluster pushed back (429/503 items)"


def test_whole_request_429_503_and_dropped_connections_lose_nothing(opensearch, enricher, fnames, proxy):
    index = fnames.index("logs-a")
    docs = load(opensearch, index, sample_docs(3000, seed=5))
    # Every kind of request (searches, point-in-time, bulk, state) can be refused for a while.
    storms = [proxy.add("answer", status=429, share=0.15, limit=25),
              proxy.add("answer", status=503, share=0.15, limit=25),
              proxy.add("drop", share=0.1, limit=15)]

    result = enricher.once()

    assert all(rule.hits > 0 for rule in storms), [rule.hits for rule in storms]
    assert result.returncode == 0, f"the pass gave up under pushback: {tail(result.stderr)}"
    assert result.report["enriched"] == len(docs), result.report
    check_enriched_once(fetch_all(opensearch, index), docs)
    assert pushback_lines(result.logs()), "the pass should log that the cluster pushed back"


def test_write_applied_but_answered_429_counts_as_enriched(opensearch, enricher, fnames, proxy):
    index = fnames.index("logs-a")
    docs = load(opensearch, index, sample_docs(2000, seed=6))
    lying = proxy.add("reject_items", ops=("update",), status=429, share=0.2, applied=True, once_per_item=True)

    result = enricher.once()

    assert lying.hits > 100, "some writes should have been applied but answered 429"
    assert result.returncode == 0, tail(result.stderr)
    report = result.report
    check_enriched_once(fetch_all(opensearch, index), docs)
    assert report["write_failures"] == 0, report
    assert report["already_enriched"] == 0, f"our own applied writes were counted as done elsewhere: {report}"
    assert report["enriched"] == len(docs) and report["documents"] == len(docs), report
