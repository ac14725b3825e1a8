from __future__ import annotations

from datetime import datetime, timezone

from enricher.config import SessionConfig, SourceConfig
from enricher.source import DocumentSource, SessionKeys, get_field


def test_get_field_reads_flat_and_nested_paths():
    assert get_field({"host": {"name": "a"}}, "host.name") == "a"
    assert get_field({"host.name": "b"}, "host.name") == "b"
    assert get_field({"host": "c"}, "host.name") is None


def test_session_key_prefers_the_regex_then_fields_then_default():
    keys = SessionKeys(SessionConfig(fields=["trace.id", "host"], regex=r"(blk_-?\d+)"))
    assert keys({"host": "h1"}, "Receiving block blk_-42 src") == "blk_-42"
    assert keys({"trace": {"id": "t9"}, "host": "h1"}, "no block here") == "t9"
    assert keys({"host": "h1"}, None) == "h1"
    assert keys({"host": {"nested": 1}}, "x") == "default", "objects are not keys"


def test_pending_query_skips_enriched_documents_and_keeps_undated_ones():
    source = DocumentSource(client=None, config=SourceConfig(query_filter={"term": {"app": "shop"}}),
                            namespace="enrichment", pipeline_version="3")
    query = source.pending_query(datetime(2026, 1, 1, tzinfo=timezone.utc), "now")["bool"]
    assert query["must_not"] == [{"term": {"enrichment.pipeline_version": "3"}}]
    time_filter, user_filter = query["filter"]
    should = time_filter["bool"]["should"]
    assert should[0] == {"range": {"@timestamp": {"gte": "2026-01-01T00:00:00+00:00", "lt": "now"}}}
    assert should[1] == {"bool": {"must_not": {"exists": {"field": "@timestamp"}}}}
    assert user_filter == {"term": {"app": "shop"}}
    assert "must_not" not in source.pending_query(None, pending_only=False)["bool"]


def test_sort_is_by_time_with_a_tiebreaker():
    source = DocumentSource(client=None, config=SourceConfig(), namespace="enrichment", pipeline_version="1")
    assert [next(iter(s)) for s in source.sort()] == ["@timestamp", "_doc"]
