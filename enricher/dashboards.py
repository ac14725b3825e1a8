"""OpenSearch Dashboards saved objects for the enriched fields: index patterns, saved searches, visualisations
and one dashboard, as the NDJSON that Dashboards 2.x exports and imports.

Every object is built for the user's own index pattern and namespace, and its id is derived from them (a
UUID5), so importing a re-export overwrites the same objects instead of adding copies.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

# The Dashboards 2.x migration versions of each saved-object type, as its exports carry them.
MIGRATION_VERSIONS = {"index-pattern": "7.6.0", "search": "7.9.3", "visualization": "7.10.0", "dashboard": "7.9.3"}
ID_NAMESPACE = uuid.UUID("6f1c1f7e-6a43-4a4e-9d55-4c6b1a0e10ad")  # fixed: ids must not change between releases
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


class EnrichedIndices(BaseModel):
    """The indices the enricher writes: what saved objects and monitors are built for."""

    index_pattern: str = Field("logs-*", min_length=1)
    namespace: str = Field("enrichment", min_length=1, pattern=r"^[A-Za-z0-9_@\-.]+$")
    findings_index: str = Field("enricher-findings", min_length=1)
    time_field: str = "@timestamp"


class ExportOptions(EnrichedIndices):
    host_field: str = "host.name"


@dataclass(frozen=True)
class Query:
    """One question asked two ways: DQL (what the search bar takes by default) and Lucene (query_string).

    The saved objects use DQL; both are the README's table of queries, which the integration tests run."""

    dql: str
    lucene: str


def queries(namespace: str) -> dict[str, Query]:
    ns = namespace
    return {
        "anomalies": Query(f"{ns}.anomaly.is_anomaly:true", f"{ns}.anomaly.is_anomaly:true"),
        "novel-templates": Query(f"{ns}.template.novel:true", f"{ns}.template.novel:true"),
        "errors": Query(f"{ns}.classification.label:(ERROR or CRITICAL)",
                        f"{ns}.classification.label:(ERROR OR CRITICAL)"),
        "not-enriched": Query(f"{ns}.status:error", f"{ns}.status:error"),
        "incidents": Query("kind:incident", "kind:incident"),
    }


def object_id(options: ExportOptions, key: str) -> str:
    """A stable id for one object of one (pattern, namespace) export."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{options.index_pattern}|{options.namespace}|{key}"))


def saved_objects(options: ExportOptions) -> list[dict[str, Any]]:
    """Every saved object, index patterns first (Dashboards resolves references in file order)."""
    return [*_index_patterns(options), *_searches(options), *_visualisations(options), _dashboard(options)]


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(obj, sort_keys=True) + "\n" for obj in objects)


# -- builders --------------------------------------------------------------------------------------------
def _base(options: ExportOptions, kind: str, key: str, attributes: dict[str, Any],
          references: list[dict[str, str]]) -> dict[str, Any]:
    return {"type": kind, "id": object_id(options, key), "attributes": attributes, "references": references,
            "migrationVersion": {kind: MIGRATION_VERSIONS[kind]}}


def _index_patterns(options: ExportOptions) -> list[dict[str, Any]]:
    logs = {"title": options.index_pattern, "timeFieldName": options.time_field, "fields": "[]"}
    findings = {"title": options.findings_index, "timeFieldName": "detected_at", "fields": "[]"}
    return [_base(options, "index-pattern", "index-pattern", logs, []),
            _base(options, "index-pattern", "findings-index-pattern", findings, [])]


def _search_source(query: str, language: str = "kuery", with_index: bool = True) -> dict[str, str]:
    source: dict[str, Any] = {"query": {"query": query, "language": language}, "filter": []}
    if with_index:
        source["indexRefName"] = INDEX_REF
    return {"searchSourceJSON": json.dumps(source)}


def _index_ref(options: ExportOptions, key: str = "index-pattern") -> list[dict[str, str]]:
    return [{"name": INDEX_REF, "type": "index-pattern", "id": object_id(options, key)}]


SEARCHES = {  # key: (title, extra columns after the message)
    "anomalies": ("Anomalies", ["anomaly.score", "anomaly.reasons", "template.text"]),
    "novel-templates": ("Novel templates", ["template.id", "template.text"]),
    "errors": ("ERROR and CRITICAL classifications", ["classification.label", "classification.confidence"]),
    "not-enriched": ("Documents the enricher could not enrich", ["error"]),
}


def _searches(options: ExportOptions) -> list[dict[str, Any]]:
    asked = queries(options.namespace)
    made = []
    for key, (title, columns) in SEARCHES.items():
        attributes = {"title": f"log-enricher: {title} ({options.index_pattern})", "description": "",
                      "hits": 0, "columns": ["message", *(f"{options.namespace}.{c}" for c in columns)],
                      "sort": [[options.time_field, "desc"]], "version": 1,
                      "kibanaSavedObjectMeta": _search_source(asked[key].dql)}
        made.append(_base(options, "search", f"search-{key}", attributes, _index_ref(options)))
    incidents = {"title": f"log-enricher: incidents ({options.findings_index})", "description": "", "hits": 0,
                 "columns": ["summary", "top_cause.label", "score", "key_terms"],
                 "sort": [["detected_at", "desc"]], "version": 1,
                 "kibanaSavedObjectMeta": _search_source(asked["incidents"].dql)}
    made.append(_base(options, "search", "search-incidents", incidents, _index_ref(options, "findings-index-pattern")))
    return made


def _terms(agg_id: str, field: str, size: int, schema: str = "bucket") -> dict[str, Any]:
    return {"id": agg_id, "enabled": True, "type": "terms", "schema": schema,
            "params": {"field": field, "size": size, "order": "desc", "orderBy": "1",
                       "otherBucket": False, "missingBucket": False}}


COUNT = {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}}


def _date_histogram(field: str, interval: str) -> dict[str, Any]:
    return {"id": "2", "enabled": True, "type": "date_histogram", "schema": "segment",
            "params": {"field": field, "interval": interval, "min_doc_count": 1, "extended_bounds": {},
                       "useNormalizedOpenSearchInterval": True, "drop_partials": False}}


def _histogram_params() -> dict[str, Any]:
    return {"type": "histogram", "addTooltip": True, "addLegend": True, "legendPosition": "right",
            "times": [], "addTimeMarker": False,
            "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": True,
                              "scale": {"type": "linear"}, "labels": {"show": True, "truncate": 100},
                              "title": {}}],
            "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left",
                           "show": True, "scale": {"type": "linear", "mode": "normal"},
                           "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                           "title": {"text": "Count"}}],
            "seriesParams": [{"show": True, "type": "histogram", "mode": "stacked",
                              "data": {"label": "Count", "id": "1"}, "valueAxis": "ValueAxis-1",
                              "drawLinesBetweenPoints": True, "showCircles": True}],
            "grid": {"categoryLines": False}}


def visualisation_specs(options: ExportOptions) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """key: (title, DQL query, visState) of every visualisation."""
    ns = options.namespace
    asked = queries(ns)
    max_score = {"id": "3", "enabled": True, "type": "max", "schema": "metric",
                 "params": {"field": f"{ns}.anomaly.score"}}
    table = {"perPage": 10, "showPartialRows": False, "showMetricsAtAllLevels": False, "showTotal": False,
             "totalFunc": "sum", "percentageCol": ""}
    return {
        "anomalies-over-time": ("Anomalies over time", asked["anomalies"].dql, {
            "type": "histogram", "params": _histogram_params(),
            "aggs": [COUNT, _date_histogram(options.time_field, "auto"),
                     _terms("4", f"{ns}.anomaly.kind", 5, schema="group")]}),
        "top-anomalous-templates": ("Top anomalous templates", asked["anomalies"].dql, {
            "type": "table", "params": table,
            "aggs": [COUNT, max_score, _terms("2", f"{ns}.template.id", 20),
                     _terms("4", f"{ns}.template.text", 1)]}),
        "top-anomalous-sessions": ("Top anomalous sessions and hosts", asked["anomalies"].dql, {
            "type": "table", "params": table,
            "aggs": [COUNT, max_score, _terms("2", f"{ns}.session", 20), _terms("4", options.host_field, 5)]}),
        "label-mix": ("Classification label mix", "", {
            "type": "pie", "params": {"type": "pie", "addTooltip": True, "addLegend": True,
                                      "legendPosition": "right", "isDonut": True,
                                      "labels": {"show": True, "values": True, "last_level": True,
                                                 "truncate": 100}},
            "aggs": [COUNT, _terms("2", f"{ns}.classification.label", 10, schema="segment")]}),
        "novel-templates-per-hour": ("Novel templates per hour", asked["novel-templates"].dql, {
            "type": "histogram", "params": _histogram_params(),
            "aggs": [COUNT, _date_histogram(options.time_field, "h")]}),
    }


def _visualisations(options: ExportOptions) -> list[dict[str, Any]]:
    made = []
    for key, (title, query, state) in visualisation_specs(options).items():
        full_title = f"log-enricher: {title} ({options.index_pattern})"
        attributes = {"title": full_title, "description": "", "version": 1, "uiStateJSON": "{}",
                      "visState": json.dumps({"title": full_title, **state}),
                      "kibanaSavedObjectMeta": _search_source(query)}
        made.append(_base(options, "visualization", f"vis-{key}", attributes, _index_ref(options)))
    return made


def _dashboard(options: ExportOptions) -> dict[str, Any]:
    panels, references = [], []
    members = [("visualization", f"vis-{key}") for key in visualisation_specs(options)]
    members += [("search", "search-anomalies"), ("search", "search-incidents")]
    for number, (kind, key) in enumerate(members):
        ref = f"panel_{number}"
        panels.append({"panelIndex": str(number + 1), "panelRefName": ref, "embeddableConfig": {},
                       "version": "2.19.0",
                       "gridData": {"x": 24 * (number % 2), "y": 15 * (number // 2), "w": 24, "h": 15,
                                    "i": str(number + 1)}})
        references.append({"name": ref, "type": kind, "id": object_id(options, key)})
    attributes = {"title": f"log-enricher ({options.index_pattern})", "description":
                  "Anomalies, novel templates, classifications and incidents written by log-enricher.",
                  "hits": 0, "version": 1, "timeRestore": True, "timeFrom": "now-24h", "timeTo": "now",
                  "refreshInterval": {"pause": False, "value": 60000},
                  "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
                  "panelsJSON": json.dumps(panels),
                  "kibanaSavedObjectMeta": _search_source("", with_index=False)}
    return _base(options, "dashboard", "dashboard", attributes, references)
