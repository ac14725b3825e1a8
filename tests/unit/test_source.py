from __future__ import annotations

from datetime import datetime, timezone

from enricher.config import SessionConfig, SourceConfig
from enricher.cluster.source import DocumentSource, SessionKeys, get_field


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


def test_placeholder_session_values_are_not_keys():
    keys = SessionKeys(SessionConfig(fields=["trace_id", "host"]))
    assert keys({"trace_id": "-", "host": "web-1"}, "x") == "web-1"
    assert keys({"trace_id": "", "host": " "}, "x") == "default"
    assert keys({"trace_id": " t-7 "}, "x") == "t-7"


def test_pending_query_skips_enriched_documents_and_keeps_undated_ones():
    source = DocumentSource(client=None, config=SourceConfig(query_filter={"term": {"app": "shop"}}),
                            namespace="enrichment", pipeline_version="3")
    query = source.pending_query(datetime(2026, 1, 1, tzinfo=timezone.utc), "now")["bool"]
    time_filter, user_filter, pending = query["filter"]
    assert pending["bool"]["should"] == [{"bool": {"must_not": {"term": {"enrichment.pipeline_version": "3"}}}}]
    should = time_filter["bool"]["should"]
    assert should[0] == {"range": {"@timestamp": {"gte": "2026-01-01T00:00:00+00:00", "lt": "now"}}}
    assert should[1] == {"bool": {"must_not": {"exists": {"field": "@timestamp"}}}}
    assert user_filter == {"term": {"app": "shop"}}
    assert source.pending_query(None, pending_only=False)["bool"]["filter"] == [{"term": {"app": "shop"}}]


def test_documents_enriched_without_a_model_now_loaded_are_pending_again():
    source = DocumentSource(client=None, config=SourceConfig(), namespace="enrichment", pipeline_version="1")
    source.loaded_models = ["classifier", "sequence-lstm"]
    (pending,) = source.pending_query(None)["bool"]["filter"]
    assert {"terms": {"enrichment.missing_models": ["classifier", "sequence-lstm"]}} in pending["bool"]["should"]


def test_excluded_indices_are_left_out_of_the_index_expression():
    source = DocumentSource(client=None, config=SourceConfig(index_patterns=["logs-*"]), namespace="enrichment",
                            pipeline_version="1")
    source.exclude("logs-bad", "@timestamp is mapped as 'text'")
    assert source.index == "logs-*,-logs-bad"


def test_sort_is_by_time_with_a_tiebreaker():
    source = DocumentSource(client=None, config=SourceConfig(), namespace="enrichment", pipeline_version="1")
    assert [next(iter(s)) for s in source.sort()] == ["@timestamp", "_doc"]
