"""(h) The operator's cluster: the enricher's templates must not override the operator's own or each other."""

from __future__ import annotations

import pytest

from .helpers import NAMESPACE, count_enriched, load, sample_docs, tail

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_operator_index_template_still_governs_new_indices(opensearch, enricher, fnames, proxy):
    operator_template = f"{fnames.prefix}-operator"
    opensearch.indices.put_index_template(name=operator_template, body={
        "index_patterns": [fnames.pattern], "priority": 0,
        "template": {"settings": {"number_of_shards": 3, "number_of_replicas": 0},
                     "mappings": {"properties": {"service": {"type": "keyword"}, "operator_tag": {"type": "keyword"}}}},
    })
    installed = enricher.cli("mappings", "install")
    assert installed.returncode == 0, installed.stderr

    index = fnames.index("logs-new")
    opensearch.index(index=index, body={"@timestamp": "2026-01-01T00:00:00Z", "message": "hello from a new index",
                                        "service": "web", "operator_tag": "x"}, params={"refresh": "true"})
    settings = opensearch.indices.get_settings(index=index)[index]["settings"]["index"]
    mapping = opensearch.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert settings["number_of_shards"] == "3", "the operator's index template no longer applies to new indices"
    assert mapping["operator_tag"]["type"] == "keyword" and mapping["service"]["type"] == "keyword", mapping

    result = enricher.once()
    assert result.returncode == 0, tail(result.stderr)
    assert count_enriched(opensearch, index) == 1
    mapping = opensearch.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert mapping[NAMESPACE]["properties"]["template"]["properties"]["id"]["type"] == "keyword"


def test_two_configurations_with_overlapping_patterns_both_install(opensearch, enricher, fnames, proxy):
    load(opensearch, fnames.index("logs-app-1"), sample_docs(10, seed=40))
    # With index templates opted in (the default installs none): two templates of overlapping patterns and
    # equal priority are refused by OpenSearch, so each configuration must find a priority of its own.
    opt_in = {"index_template": True}
    broad = enricher.config(source={"index_patterns": [f"{fnames.prefix}-logs*"]}, mappings=opt_in)
    narrow = enricher.config(source={"index_patterns": [f"{fnames.prefix}-logs-app*"]}, mappings=opt_in,
                             state_index=f"{fnames.state}-b", templates_index=f"{fnames.templates}-b")
    first = enricher.cli("mappings", "install", config=broad)
    second = enricher.cli("mappings", "install", config=narrow)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, f"the second configuration could not install: {second.stderr}"
    index = fnames.index("logs-app-2")
    opensearch.index(index=index, body={"@timestamp": "2026-01-01T00:00:00Z", "message": "m"},
                     params={"refresh": "true"})
    mapping = opensearch.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert NAMESPACE in mapping, "a new index matching both configurations should get the enrichment mapping"
