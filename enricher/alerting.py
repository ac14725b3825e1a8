"""OpenSearch Alerting monitors on the enriched fields, and their idempotent installation by name.

Each monitor is the exact body of ``POST _plugins/_alerting/monitors`` (Alerting plugin 2.x). Queries use
``{{period_end}}`` (epoch milliseconds, rendered with mustache by the plugin at every run), so they look back
from the run's own time; trigger conditions are painless over ``ctx.results[0]`` (query level) or a bucket
selector over each composite bucket (bucket level).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opensearchpy import NotFoundError, OpenSearch
from pydantic import Field

from enricher.dashboards import EnrichedIndices

MONITORS_PATH = "/_plugins/_alerting/monitors"
ALERTING_COMPONENT = "opensearch-alerting"
NAME_PREFIX = "log-enricher"


class MonitorOptions(EnrichedIndices):
    """What the monitors are built for, and their thresholds."""

    interval_minutes: int = Field(5, ge=1)
    lookback_minutes: int = Field(10, ge=1)
    min_score: float = Field(1.5, gt=0)
    bucket_min_count: int = Field(3, ge=1)
    novel_lookback_minutes: int = Field(60, ge=1)
    novel_burst: int = Field(5, ge=1)


def _monitor(options: MonitorOptions, monitor_type: str, what: str, monitor_input: dict[str, Any],
             trigger: dict[str, Any]) -> dict[str, Any]:
    return {"type": "monitor", "monitor_type": monitor_type, "name": f"{NAME_PREFIX}: {what} ({options.index_pattern})",
            "enabled": True, "schedule": {"period": {"interval": options.interval_minutes, "unit": "MINUTES"}},
            "inputs": [monitor_input], "triggers": [trigger]}


def _window(time_field: str, minutes: int) -> dict[str, Any]:
    """The run's look-back window, rendered by the plugin from the run time."""
    return {"range": {time_field: {"gte": f"{{{{period_end}}}}||-{minutes}m", "lte": "{{period_end}}",
                                   "format": "epoch_millis"}}}


def _query_monitor(options: MonitorOptions, what: str, indices: list[str], query: dict[str, Any],
                   trigger: str, condition: str, severity: str = "2") -> dict[str, Any]:
    return _monitor(options, "query_level_monitor", what, {"search": {"indices": indices, "query": query}},
                    {"query_level_trigger": {"name": trigger, "severity": severity, "actions": [],
                                             "condition": {"script": {"source": condition, "lang": "painless"}}}})


def _anomalies(options: MonitorOptions) -> dict[str, Any]:
    ns = options.namespace
    query = {"size": 0, "track_total_hits": True, "query": {"bool": {"filter": [
        _window(options.time_field, options.lookback_minutes),
        {"range": {f"{ns}.anomaly.score": {"gte": options.min_score}}}]}},
        "aggregations": {"max_score": {"max": {"field": f"{ns}.anomaly.score"}},
                         "templates": {"terms": {"field": f"{ns}.template.id", "size": 5}}}}
    return _query_monitor(options, "anomalies", [options.index_pattern], query,
                          f"anomaly score >= {options.min_score}", "ctx.results[0].hits.total.value > 0")


def _bucket_monitor(options: MonitorOptions, what: str, source: str, group_field: str) -> dict[str, Any]:
    ns = options.namespace
    query = {"size": 0, "query": {"bool": {"filter": [
        _window(options.time_field, options.lookback_minutes),
        {"term": {f"{ns}.anomaly.is_anomaly": True}}]}},
        "aggregations": {"composite_agg": {
            "composite": {"size": 50, "sources": [{source: {"terms": {"field": group_field}}}]},
            "aggregations": {"max_score": {"max": {"field": f"{ns}.anomaly.score"}}}}}}
    condition = {"parent_bucket_path": "composite_agg",
                 "buckets_path": {"_count": "_count", "max_score": "max_score"},
                 "script": {"source": f"params._count >= {options.bucket_min_count}", "lang": "painless"}}
    search = {"search": {"indices": [options.index_pattern], "query": query}}
    return _monitor(options, "bucket_level_monitor", what, search,
                    {"bucket_level_trigger": {"name": f"{options.bucket_min_count} or more anomalies per {source}",
                                              "severity": "3", "condition": condition, "actions": []}})


def _per_document(options: MonitorOptions) -> dict[str, Any]:
    ns = options.namespace
    queries = [{"id": "anomalous-document", "name": "anomalous-document", "tags": ["anomaly"],
                "query": f"{ns}.anomaly.is_anomaly:true"}]
    return _monitor(options, "doc_level_monitor", "each anomalous document",
                    {"doc_level_input": {"description": "every document an anomaly model flags",
                                         "indices": [options.index_pattern], "queries": queries}},
                    {"document_level_trigger": {
                        "name": "anomalous document", "severity": "3", "actions": [],
                        "condition": {"script": {"source": "query[tag=anomaly]", "lang": "painless"}}}})


def _novel_burst(options: MonitorOptions) -> dict[str, Any]:
    ns = options.namespace
    query = {"size": 0, "track_total_hits": True, "query": {"bool": {"filter": [
        _window(options.time_field, options.novel_lookback_minutes),
        {"term": {f"{ns}.template.novel": True}}]}},
        "aggregations": {"templates": {"terms": {"field": f"{ns}.template.text", "size": 10}}}}
    return _query_monitor(options, "burst of novel templates", [options.index_pattern], query,
                          f"{options.novel_burst} or more novel templates in {options.novel_lookback_minutes} min",
                          f"ctx.results[0].hits.total.value >= {options.novel_burst}")


def _incidents(options: MonitorOptions) -> dict[str, Any]:
    query = {"size": 5, "track_total_hits": True, "sort": [{"score": "desc"}],
             "_source": ["summary", "top_cause", "score", "key_terms", "window"],
             "query": {"bool": {"filter": [_window("detected_at", options.lookback_minutes),
                                           {"term": {"kind": "incident"}}]}}}
    return _query_monitor(options, "new incidents", [options.findings_index], query, "new incident",
                          "ctx.results[0].hits.total.value > 0", severity="1")


def monitors(options: MonitorOptions) -> dict[str, dict[str, Any]]:
    """Every shipped monitor body, by file stem."""
    return {
        "anomalies": _anomalies(options),
        "anomalous-templates": _bucket_monitor(options, "anomalous templates", "template",
                                               f"{options.namespace}.template.id"),
        "anomalous-sessions": _bucket_monitor(options, "anomalous sessions", "session",
                                              f"{options.namespace}.session"),
        "anomalous-documents": _per_document(options),
        "novel-template-burst": _novel_burst(options),
        "incidents": _incidents(options),
    }


# -- installation --------------------------------------------------------------------------------------------
class AlertingUnavailable(RuntimeError):
    """The cluster has no Alerting plugin."""


@dataclass
class InstallReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    plugin_present: bool = True


def alerting_installed(client: OpenSearch) -> bool:
    rows = client.cat.plugins(params={"format": "json", "h": "component"})
    return any(row.get("component") == ALERTING_COMPONENT for row in rows)


def find_monitor(client: OpenSearch, name: str) -> str | None:
    """The id of the monitor with exactly this name, if any (the search matches phrases, so compare)."""
    body = {"size": 10, "query": {"match_phrase": {"monitor.name": name}}}
    try:
        found = client.transport.perform_request("POST", f"{MONITORS_PATH}/_search", body=body)
    except NotFoundError:  # no monitor was ever created: the config index does not exist yet
        return None
    for hit in found.get("hits", {}).get("hits", []):
        source = hit.get("_source", {})
        if source.get("monitor", source).get("name") == name:
            return hit["_id"]
    return None


def install_monitors(client: OpenSearch, bodies: list[dict[str, Any]], *, dry_run: bool = False) -> InstallReport:
    """Create each monitor, or update the one of the same name; raise AlertingUnavailable without the plugin.

    A dry run without the plugin names every monitor as one it would create.
    """
    present = alerting_installed(client)
    report = InstallReport(plugin_present=present)
    if not present and not dry_run:
        raise AlertingUnavailable("the OpenSearch Alerting plugin (opensearch-alerting) is not installed on this "
                                  "cluster; install it, or use --dry-run to see the monitors")
    for body in bodies:
        existing = find_monitor(client, body["name"]) if present else None
        if not dry_run:
            method, path = ("POST", MONITORS_PATH) if existing is None else ("PUT", f"{MONITORS_PATH}/{existing}")
            client.transport.perform_request(method, path, body=body)
        (report.created if existing is None else report.updated).append(body["name"])
    return report
