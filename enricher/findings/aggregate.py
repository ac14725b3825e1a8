"""Counts per bucket from OpenSearch aggregations on the enriched fields (never a scan of the documents).

One composite aggregation per dimension, paged with ``after``: (template id, bucket) and (host/service,
bucket), each with the bucket's anomalies and errors as filter sub-aggregations; one more for the template
texts and one request for the window's label mix, novel templates and model versions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
from opensearchpy import OpenSearch

from enricher.cluster.source import get_field
from enricher.config import FindingsConfig
from enricher.findings.series import Grid

MAX_TEXTS = 65_000


@dataclass
class Fields:
    """The document fields the findings read (namespace applied, aggregatable variants resolved)."""

    namespace: str
    timestamp: str
    message: str
    source: str | None  # the host/service field, None when no document carries one
    session: str
    level: str | None

    def ns(self, path: str) -> str:
        return f"{self.namespace}.{path}"


@dataclass
class Counts:
    """Per-bucket counts of one run, by template and by source, plus what the report shows about the window."""

    grid: Grid
    templates: dict[str, np.ndarray] = field(default_factory=dict)
    template_anomalies: dict[str, np.ndarray] = field(default_factory=dict)
    template_errors: dict[str, np.ndarray] = field(default_factory=dict)
    sources: dict[str, np.ndarray] = field(default_factory=dict)
    source_anomalies: dict[str, np.ndarray] = field(default_factory=dict)
    source_errors: dict[str, np.ndarray] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    novel: dict[str, datetime] = field(default_factory=dict)  # template -> first seen, novel in the window
    labels: dict[str, int] = field(default_factory=dict)
    model_versions: list[str] = field(default_factory=list)
    requests: int = 0

    def total(self, table: dict[str, np.ndarray]) -> np.ndarray:
        return sum(table.values(), np.zeros(self.grid.size))

    def window_sum(self, counts: np.ndarray) -> float:
        return float(counts[self.grid.baseline:].sum())

    def baseline_sum(self, counts: np.ndarray) -> float:
        return float(counts[: self.grid.baseline].sum())


def resolve_fields(client: OpenSearch, index: str, namespace: str, timestamp: str, message: str,
                   config: FindingsConfig) -> Fields:
    """Which configured host/service field the documents carry, in an aggregatable form (``x`` or ``x.keyword``)."""
    wanted = [name for field_name in config.source_fields for name in (field_name, f"{field_name}.keyword")]
    level = [config.level_field, f"{config.level_field}.keyword"] if config.level_field else []
    caps = client.field_caps(index=index, fields=",".join(wanted + level),
                             params={"ignore_unavailable": "true", "allow_no_indices": "true"}).get("fields", {})

    def aggregatable(name: str) -> bool:
        return any(spec.get("aggregatable") for spec in caps.get(name, {}).values())

    source = next((name for name in wanted if aggregatable(name)), None)
    level_field = next((name for name in level if aggregatable(name)), None)
    session = config.session_field or f"{namespace}.session"
    return Fields(namespace=namespace, timestamp=timestamp, message=message, source=source, session=session,
                  level=level_field)


def error_query(fields: Fields, config: FindingsConfig) -> dict[str, Any]:
    should: list[dict[str, Any]] = [{"terms": {fields.ns("classification.label"): config.error_labels}}]
    if fields.level:
        values = sorted({v for label in config.error_labels for v in (label, label.lower(), label.capitalize())})
        should.append({"terms": {fields.level: values}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def range_query(fields: Fields, start: datetime, end: datetime) -> dict[str, Any]:
    return {"range": {fields.timestamp: {"gte": start.isoformat(), "lt": end.isoformat()}}}


def collect(client: OpenSearch, index: str, fields: Fields, grid: Grid, config: FindingsConfig) -> Counts:
    counts = Counts(grid=grid)
    enriched = {"bool": {"filter": [range_query(fields, grid.start, grid.end),
                                    {"exists": {"field": fields.ns("template.id")}}]}}
    sub_aggs = {"anomalies": {"filter": {"term": {fields.ns("anomaly.is_anomaly"): True}}},
                "errors": {"filter": error_query(fields, config)}}
    tables = (counts.templates, counts.template_anomalies, counts.template_errors)
    for key, bucket in _composite(client, index, enriched, fields.ns("template.id"), fields, sub_aggs, config, counts):
        _add(tables, key, bucket, grid)
    if fields.source:
        ranked = _top_sources(client, index, fields, grid, config, counts)
        by_source = {"bool": {"filter": [*enriched["bool"]["filter"], {"terms": {fields.source: ranked}}]}}
        tables = (counts.sources, counts.source_anomalies, counts.source_errors)
        for key, bucket in _composite(client, index, by_source, fields.source, fields, sub_aggs, config, counts):
            _add(tables, key, bucket, grid)
    _texts(client, index, fields, enriched, config, counts)
    _window_summary(client, index, fields, grid, counts)
    return counts


def _add(tables: tuple[dict[str, np.ndarray], ...], key: str, bucket: dict[str, Any], grid: Grid) -> None:
    when = datetime.fromtimestamp(bucket["key"]["t"] / 1000, tz=timezone.utc)
    position = grid.index(when)
    if not 0 <= position < grid.size:
        return
    values = (bucket["doc_count"], bucket["anomalies"]["doc_count"], bucket["errors"]["doc_count"])
    for table, value in zip(tables, values):
        if value:
            table.setdefault(key, np.zeros(grid.size))[position] += value


def _composite(client: OpenSearch, index: str, query: dict[str, Any], key_field: str, fields: Fields,
               sub_aggs: dict[str, Any], config: FindingsConfig, counts: Counts) -> Iterator[tuple[str, dict[str, Any]]]:
    interval = f"{int(config.bucket.total_seconds())}s"
    composite: dict[str, Any] = {"size": config.page_size, "sources": [
        {"k": {"terms": {"field": key_field}}},
        {"t": {"date_histogram": {"field": fields.timestamp, "fixed_interval": interval}}},
    ]}
    while True:
        body = {"size": 0, "track_total_hits": False, "query": query,
                "aggs": {"c": {"composite": composite, "aggs": sub_aggs}}}
        result = _search(client, index, body, counts)["aggregations"]["c"]
        for bucket in result["buckets"]:
            yield str(bucket["key"]["k"]), bucket
        if "after_key" not in result or len(result["buckets"]) < config.page_size:
            return
        composite = {**composite, "after": result["after_key"]}


def _top_sources(client: OpenSearch, index: str, fields: Fields, grid: Grid, config: FindingsConfig,
                 counts: Counts) -> list[str]:
    """The most active hosts/services (bounded, so a field with one value per document cannot blow up a run)."""
    assert fields.source is not None
    body = {"size": 0, "track_total_hits": False, "query": range_query(fields, grid.start, grid.end),
            "aggs": {"s": {"terms": {"field": fields.source, "size": config.max_sources}}}}
    return [str(b["key"]) for b in _search(client, index, body, counts)["aggregations"]["s"]["buckets"]]


def _texts(client: OpenSearch, index: str, fields: Fields, query: dict[str, Any], config: FindingsConfig,
           counts: Counts) -> None:
    composite: dict[str, Any] = {"size": config.page_size, "sources": [
        {"id": {"terms": {"field": fields.ns("template.id")}}},
        {"text": {"terms": {"field": fields.ns("template.text"), "missing_bucket": True}}},
    ]}
    while len(counts.texts) < MAX_TEXTS:
        body = {"size": 0, "track_total_hits": False, "query": query, "aggs": {"c": {"composite": composite}}}
        result = _search(client, index, body, counts)["aggregations"]["c"]
        for bucket in result["buckets"]:
            counts.texts.setdefault(str(bucket["key"]["id"]), bucket["key"]["text"] or "")
        if "after_key" not in result or len(result["buckets"]) < config.page_size:
            return
        composite = {**composite, "after": result["after_key"]}


def _window_summary(client: OpenSearch, index: str, fields: Fields, grid: Grid, counts: Counts) -> None:
    body = {"size": 0, "track_total_hits": False, "query": range_query(fields, grid.window_start, grid.end), "aggs": {
        "labels": {"terms": {"field": fields.ns("classification.label"), "size": 50}},
        "models": {"terms": {"field": fields.ns("model_versions"), "size": 50}},
        "novel": {"filter": {"term": {fields.ns("template.novel"): True}}, "aggs": {
            "templates": {"terms": {"field": fields.ns("template.id"), "size": 1000},
                          "aggs": {"first": {"min": {"field": fields.timestamp}}}}}},
    }}
    aggs = _search(client, index, body, counts)["aggregations"]
    counts.labels = {str(b["key"]): b["doc_count"] for b in aggs["labels"]["buckets"]}
    counts.model_versions = sorted(str(b["key"]) for b in aggs["models"]["buckets"])
    counts.novel = {str(b["key"]): datetime.fromtimestamp(b["first"]["value"] / 1000, tz=timezone.utc)
                    for b in aggs["novel"]["templates"]["buckets"]}


def _search(client: OpenSearch, index: str, body: dict[str, Any], counts: Counts) -> dict[str, Any]:
    counts.requests += 1
    return client.search(index=index, body=body, params={
        "ignore_unavailable": "true", "allow_no_indices": "true", "request_cache": "true"})


@dataclass
class Evidence:
    """Documents of one incident: the earliest ones, and where they concentrate."""

    docs: list[dict[str, Any]]
    messages: list[str]
    total: int
    sources: dict[str, int]
    sessions: dict[str, int]


def evidence(client: OpenSearch, index: str, fields: Fields, config: FindingsConfig, *, start: datetime,
             end: datetime, templates: list[str], sources: list[str], counts: Counts, sample: int = 200) -> Evidence:
    """The incident's documents: of its templates, anomalous, or errors of its sources; earliest first."""
    should: list[dict[str, Any]] = [{"term": {fields.ns("anomaly.is_anomaly"): True}}]
    if templates:
        should.append({"terms": {fields.ns("template.id"): templates}})
    if sources and fields.source:
        should.append({"bool": {"filter": [{"terms": {fields.source: sources}}, error_query(fields, config)]}})
    aggs: dict[str, Any] = {"sessions": {"terms": {"field": fields.session, "size": 10}}}
    if fields.source:
        aggs["sources"] = {"terms": {"field": fields.source, "size": 10}}
    body = {
        "size": sample, "track_total_hits": True,
        "query": {"bool": {"filter": [range_query(fields, start, end)], "should": should, "minimum_should_match": 1}},
        "sort": [{fields.timestamp: "asc"}],
        "_source": [fields.message, fields.timestamp, fields.ns("template.id"), fields.ns("session"),
                    fields.ns("anomaly.is_anomaly")] + ([fields.source.removesuffix(".keyword")] if fields.source else []),
        "aggs": aggs,
    }
    result = _search(client, index, body, counts)
    hits = result["hits"]["hits"]
    docs = [{"index": hit["_index"], "id": hit["_id"], "source": hit["_source"]} for hit in hits]
    messages = [msg for hit in hits if isinstance(msg := get_field(hit["_source"], fields.message), str)]
    aggregations = result.get("aggregations", {})

    def table(name: str) -> dict[str, int]:
        return {str(b["key"]): b["doc_count"] for b in aggregations.get(name, {}).get("buckets", [])}

    return Evidence(docs=docs, messages=messages, total=result["hits"]["total"]["value"], sources=table("sources"),
                    sessions=table("sessions"))
