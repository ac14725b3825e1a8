"""Dashboards saved objects, Alerting monitors and the README's queries, run for real against a node.

The Alerting plugin is not on Maven Central, but what it runs is: mustache renders each monitor's query
(``POST _render/template`` with the run's ``period_end``), the search runs, and painless evaluates the trigger
over the response (``POST _scripts/painless/_execute``) or selects buckets in the aggregation. scripts/opensearch.sh
installs both modules; without them these tests skip. The documents are enriched by the service itself (empty
registry: templates only); anomaly verdicts and labels are then set on chosen documents as the models would.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import helpers
from typer.testing import CliRunner

from enricher.alerting import MonitorOptions, monitors
from enricher.config import Settings
from enricher.dashboards import INDEX_REF, ExportOptions, object_id, queries, saved_objects, to_ndjson
from enricher.findings.index import ensure_findings_index
from enricher.orchestration.service import EnrichmentService
from tests.conftest import OPENSEARCH_URL, REPO_ROOT

pytestmark = pytest.mark.integration

NS = "enrichment"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
TEMPLATES = [  # (message format, host); six event types so a burst of novel templates exists
    ("Connection from 10.0.0.{i} closed after {i}7 ms", "web-1"),
    ("User 10{i} logged in from 192.168.1.{i}", "web-1"),
    ("Disk {i} usage at {i}3 percent", "db-1"),
    ("Job {i}42 finished with exit code 0", "db-1"),
    ("Cache miss for key {i}{i} in region {i}", "web-2"),
    ("Timeout waiting for lock {i} after {i}00 ms", "web-2"),
]


# -- a tiny DQL translator for the forms the README and the saved searches use ---------------------------
_TOKEN = re.compile(r'\s*(\(|\)|"[^"]*"|>=|<=|>|<|:|[^\s():<>="]+)')


def dql_to_query(text: str) -> dict[str, Any]:
    """DQL -> query DSL: field:value, field:(a or b), field >= v, quoted phrases, and/or/not, parentheses."""
    tokens = [t for t in _TOKEN.findall(text) if t]
    if not tokens:
        return {"match_all": {}}
    query, rest = _or(tokens, None)
    assert not rest, f"unparsed DQL: {rest}"
    return query


def _or(tokens: list[str], field: str | None) -> tuple[dict[str, Any], list[str]]:
    left, tokens = _and(tokens, field)
    parts = [left]
    while tokens and tokens[0].lower() == "or":
        right, tokens = _and(tokens[1:], field)
        parts.append(right)
    return (parts[0] if len(parts) == 1 else {"bool": {"should": parts, "minimum_should_match": 1}}), tokens


def _and(tokens: list[str], field: str | None) -> tuple[dict[str, Any], list[str]]:
    left, tokens = _not(tokens, field)
    parts = [left]
    while tokens and tokens[0].lower() == "and":
        right, tokens = _not(tokens[1:], field)
        parts.append(right)
    return (parts[0] if len(parts) == 1 else {"bool": {"filter": parts}}), tokens


def _not(tokens: list[str], field: str | None) -> tuple[dict[str, Any], list[str]]:
    if tokens[0].lower() == "not":
        inner, tokens = _not(tokens[1:], field)
        return {"bool": {"must_not": [inner]}}, tokens
    return _atom(tokens, field)


def _atom(tokens: list[str], field: str | None) -> tuple[dict[str, Any], list[str]]:
    if tokens[0] == "(":
        inner, tokens = _or(tokens[1:], field)
        assert tokens and tokens[0] == ")", "unbalanced parentheses"
        return inner, tokens[1:]
    if field is not None:  # a value inside field:( ... )
        return _value(field, tokens[0]), tokens[1:]
    name, op = tokens[0], tokens[1]
    if op == ":":
        if tokens[2] == "(":
            return _atom(tokens[2:], name)
        return _value(name, tokens[2]), tokens[3:]
    bound = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}[op]
    return {"range": {name: {bound: tokens[2].strip('"')}}}, tokens[3:]


def _value(field: str, token: str) -> dict[str, Any]:
    if token.startswith('"'):
        return {"match_phrase": {field: token[1:-1]}}
    if token == "*":
        return {"exists": {"field": field}}
    if "*" in token:
        return {"wildcard": {field: {"value": token}}}
    return {"match": {field: token}}


# -- the node and its data ---------------------------------------------------------------------------------
def _modules(client) -> set[str]:
    nodes = client.nodes.info(metric="plugins")["nodes"]
    return {module["name"] for node in nodes.values() for module in node.get("modules", [])}


@pytest.fixture(scope="module")
def node(opensearch):
    missing = {"lang-painless", "lang-mustache"} - _modules(opensearch)
    if missing:
        pytest.skip(f"the node at {OPENSEARCH_URL} lacks the modules {sorted(missing)} that monitors run on "
                    f"(scripts/opensearch.sh installs them; restart the node to load them)")
    return opensearch


def _documents() -> list[dict[str, Any]]:
    docs = []
    for n in range(60):  # the last 8 minutes, inside every monitor's window
        text, host = TEMPLATES[n % len(TEMPLATES)]
        docs.append({"@timestamp": (NOW - timedelta(seconds=480 - n * 8)).isoformat(),
                     "message": text.format(i=n % 9 + 1), "host": {"name": host}})
    docs.append({"@timestamp": (NOW - timedelta(hours=3)).isoformat(), "message": "Backup of volume v5 started",
                 "host": {"name": "web-1"}})  # old: outside every window, a seventh template
    docs.append({"@timestamp": (NOW - timedelta(seconds=30)).isoformat(), "host": {"name": "db-1"}})  # no message
    return docs


V2_FIELDS = {  # mapping v2 fields the monitors and saved objects use, added when this branch's mapping lacks them
    "anomaly": {"properties": {"kind": {"type": "keyword"}, "reason_code": {"type": "keyword"}}},
    "classification": {"properties": {"source": {"type": "keyword"}}},
}


def _add_v2_fields(client, index: str) -> None:
    mapped = client.indices.get_mapping(index=index)[index]["mappings"]["properties"][NS]["properties"]
    wanted = {}
    for group, spec in V2_FIELDS.items():
        absent = {k: v for k, v in spec["properties"].items() if k not in mapped.get(group, {}).get("properties", {})}
        if absent:
            wanted[group] = {"properties": absent}
    for group, name in (("template", "text"), ("anomaly", "reasons")):  # v2's full-text multi-fields
        current = mapped.get(group, {}).get("properties", {}).get(name)
        if current is not None and "search" not in current.get("fields", {}):
            spec = {**current, "fields": {"search": {"type": "text"}}}
            wanted.setdefault(group, {"properties": {}})["properties"][name] = spec
    if wanted:
        client.indices.put_mapping(index=index, body={"properties": {NS: {"properties": wanted}}})


def _enrich(client, suffix: str, index: str, tmp: Path) -> Settings:
    settings = Settings(opensearch={"hosts": [OPENSEARCH_URL]}, state_index=f"enricher-state-dash-{suffix}",
                        templates_index=f"enricher-templates-dash-{suffix}",
                        source={"index_patterns": [f"logs-dash-{suffix}*"], "batch_size": 100, "lookback": None},
                        sink={"refresh": True}, models={"registry": str(tmp / "registry")},
                        findings={"index": f"enricher-findings-dash-{suffix}"}, log_format="text")
    service = EnrichmentService(settings, client)
    service.prepare()
    service.run_pass()
    client.indices.refresh(index=index)
    _add_v2_fields(client, index)
    return settings


def _set(client, index: str, updates: dict[str, dict[str, Any]]) -> None:
    actions = ({"_op_type": "update", "_index": index, "_id": doc_id, "doc": {NS: fields}}
               for doc_id, fields in updates.items())
    helpers.bulk(client, actions, refresh="wait_for")


def _anomaly(score: float, kind: str = "sequence") -> dict[str, Any]:
    return {"anomaly": {"is_anomaly": score >= 1.0, "score": score, "kind": [kind],
                        "reason_code": ["unexpected_event"], "reasons": f"{kind} score {score} over threshold"}}


@pytest.fixture(scope="module")
def data(node, tmp_path_factory):
    suffix = uuid.uuid4().hex[:8]
    index, findings = f"logs-dash-{suffix}", f"enricher-findings-dash-{suffix}"
    source_fields = {"@timestamp": {"type": "date"}, "message": {"type": "text"},
                     "host": {"properties": {"name": {"type": "keyword"}}}}
    node.indices.create(index=index, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                                           "mappings": {"properties": source_fields}})
    docs = _documents()
    helpers.bulk(node, ({"_index": index, "_id": f"d{i:03d}", "_source": d} for i, d in enumerate(docs)),
                 refresh="wait_for")
    settings = _enrich(node, suffix, index, tmp_path_factory.mktemp("dash"))
    # Four anomalies of the first template in one session (a bucket over the threshold of 3), one more of
    # another template, one below 1.5 (flagged, yet under the query monitor's score), and an old one.
    strong = {"d000": 1.8, "d006": 1.6, "d012": 1.9, "d018": 1.5, "d001": 1.7}
    updates: dict[str, dict[str, Any]] = {i: {**_anomaly(s), "session": "blk_7"} for i, s in strong.items()}
    updates["d001"]["session"] = "blk_9"
    updates["d002"] = {**_anomaly(1.2, "autoencoder"), "session": "blk_9"}
    updates["d060"] = {**_anomaly(1.95), "session": "blk_7"}
    labels = {"d003": "ERROR", "d009": "ERROR", "d015": "CRITICAL", "d004": "WARNING", "d005": "INFO"}
    for doc_id, label in labels.items():
        updates.setdefault(doc_id, {})["classification"] = {"label": label, "confidence": 0.9,
                                                            "model": "classifier:test", "source": "model"}
    _set(node, index, updates)
    ensure_findings_index(node, settings)
    incident = {"kind": "incident", "type": "incident", "subject": "incident", "score": 3.2,
                "summary": "error burst in template X", "top_cause": {"kind": "template", "value": "x", "label": "X"},
                "detected_at": (NOW - timedelta(minutes=2)).isoformat()}
    trend = {"kind": "finding", "type": "spike", "subject": "template", "score": 2.0,
             "detected_at": (NOW - timedelta(minutes=2)).isoformat()}
    helpers.bulk(node, [{"_index": findings, "_id": "i1", "_source": incident},
                        {"_index": findings, "_id": "f1", "_source": trend}], refresh="wait_for")
    hits = helpers.scan(node, index=index, query={"query": {"match_all": {}}})
    stored = {hit["_id"]: hit["_source"] for hit in hits}
    yield {"index": index, "findings": findings, "stored": stored, "labels": labels, "strong": strong}
    node.indices.delete(index=f"*-dash-{suffix}*", params={"ignore_unavailable": "true", "expand_wildcards": "all"})


def _ids(client, index: str, query: dict[str, Any]) -> set[str]:
    return {hit["_id"] for hit in helpers.scan(client, index=index, query={"query": query})}


def _lucene_ids(client, index: str, text: str) -> set[str]:
    return _ids(client, index, {"query_string": {"query": text}})


# -- saved objects -------------------------------------------------------------------------------------------
def test_shipped_files_are_the_current_export():
    shipped = (REPO_ROOT / "dashboards" / "log-enricher.ndjson").read_text(encoding="utf-8")
    assert shipped == to_ndjson(saved_objects(ExportOptions()))
    for stem, body in monitors(MonitorOptions()).items():
        assert json.loads((REPO_ROOT / "alerting" / "monitors" / f"{stem}.json").read_text()) == body


def test_ndjson_parses_and_every_reference_resolves():
    lines = (REPO_ROOT / "dashboards" / "log-enricher.ndjson").read_text(encoding="utf-8").splitlines()
    objects = [json.loads(line) for line in lines]
    by_id = {(o["type"], o["id"]): o for o in objects}
    assert len(by_id) == len(objects), "ids must be unique"
    kinds = {o["type"] for o in objects}
    assert kinds == {"index-pattern", "search", "visualization", "dashboard"}
    for obj in objects:
        assert set(obj) == {"type", "id", "attributes", "references", "migrationVersion"}
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in by_id, (obj["id"], ref)
        source = json.loads(obj["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}"))
        if obj["type"] in ("search", "visualization"):
            assert source["indexRefName"] == INDEX_REF
            assert INDEX_REF in {r["name"] for r in obj["references"]}
    dashboard = next(o for o in objects if o["type"] == "dashboard")
    panel_refs = {p["panelRefName"] for p in json.loads(dashboard["attributes"]["panelsJSON"])}
    assert panel_refs == {r["name"] for r in dashboard["references"]}
    assert len(panel_refs) == 7


def test_export_rewrites_pattern_and_namespace_with_stable_ids():
    options = ExportOptions(index_pattern="app-logs-*", namespace="enr")
    text = to_ndjson(saved_objects(options))
    assert "enrichment." not in text and '"enr.anomaly.is_anomaly' in text.replace("\\", "")
    titles = [json.loads(line)["attributes"]["title"] for line in text.splitlines()]
    assert titles[0] == "app-logs-*"
    assert text == to_ndjson(saved_objects(ExportOptions(index_pattern="app-logs-*", namespace="enr")))
    assert object_id(options, "dashboard") != object_id(ExportOptions(), "dashboard")


def _named_fields(objects: list[dict[str, Any]]) -> dict[str, bool]:
    """Every field the saved objects name (on the enriched index pattern) -> whether it is aggregated."""
    fields: dict[str, bool] = {}
    for obj in objects:
        attributes = obj["attributes"]
        if obj["type"] == "index-pattern" and attributes["title"] == "logs-*":
            fields[attributes["timeFieldName"]] = True
        if obj["type"] == "search" and "incidents" not in attributes["title"]:
            for column in attributes["columns"]:
                fields.setdefault(column, False)
        if obj["type"] == "visualization":
            for agg in json.loads(attributes["visState"])["aggs"]:
                if "field" in agg["params"]:
                    fields[agg["params"]["field"]] = True
        source = json.loads(attributes.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}"))
        for name in re.findall(r"([\w.@]+)\s*(?::|>=)", source.get("query", {}).get("query", "")):
            if name != "kind":
                fields.setdefault(name, False)
    return fields


def test_every_field_a_saved_object_names_exists_and_aggregates_where_aggregated(node, data):
    wanted = _named_fields(saved_objects(ExportOptions()))
    assert {f"{NS}.template.id", f"{NS}.classification.label", f"{NS}.anomaly.kind", "host.name"} <= set(wanted)
    _check_field_caps(node, data["index"], wanted)


def _check_field_caps(client, index: str, wanted: dict[str, bool]) -> None:
    caps = client.field_caps(index=index, fields=",".join(sorted(wanted)))["fields"]
    for name, aggregated in wanted.items():
        assert name in caps, f"{name} is not mapped on the enriched index"
        types = caps[name]
        if aggregated:
            assert all(spec["aggregatable"] for spec in types.values()), f"{name} is not aggregatable: {types}"


def test_every_saved_search_returns_the_expected_documents(node, data):
    stored, index = data["stored"], data["index"]
    asked = queries(NS)
    expected = {
        "anomalies": {i for i, s in stored.items() if s[NS].get("anomaly", {}).get("is_anomaly")},
        "novel-templates": {i for i, s in stored.items() if s[NS].get("template", {}).get("novel")},
        "errors": {i for i, label in data["labels"].items() if label in ("ERROR", "CRITICAL")},
        "not-enriched": {"d061"},
    }
    assert len(expected["anomalies"]) == 7 and len(expected["novel-templates"]) == len(TEMPLATES) + 1
    assert expected["errors"] == {"d003", "d009", "d015"}
    for key, ids in expected.items():
        assert _ids(node, index, dql_to_query(asked[key].dql)) == ids, key
        assert _lucene_ids(node, index, asked[key].lucene) == ids, key
    incidents = asked["incidents"]
    assert _ids(node, data["findings"], dql_to_query(incidents.dql)) == {"i1"}
    assert _lucene_ids(node, data["findings"], incidents.lucene) == {"i1"}


# -- monitors --------------------------------------------------------------------------------------------------
def _monitors(data) -> dict[str, dict[str, Any]]:
    return monitors(MonitorOptions(index_pattern=f"{data['index']}*", findings_index=data["findings"]))


def _render(client, query: dict[str, Any], period_end: datetime, interval_minutes: int = 5) -> dict[str, Any]:
    """The query as the Alerting plugin runs it: a mustache template over the period's bounds (epoch ms)."""
    end = int(period_end.timestamp() * 1000)
    params = {"period_end": end, "period_start": end - interval_minutes * 60_000}
    body = {"source": json.dumps(query), "params": params}
    return client.transport.perform_request("POST", "/_render/template", body=body)["template_output"]


def _condition(client, source: str, response: dict[str, Any]) -> bool:
    """The trigger condition in painless over ctx.results[0], as the plugin evaluates it."""
    script = {"source": f"def ctx = params.ctx; return ({source});",
              "params": {"ctx": {"results": [response]}}}
    result = client.transport.perform_request("POST", "/_scripts/painless/_execute", body={"script": script})
    return result["result"] == "true"


def _run_query_monitor(client, monitor: dict[str, Any], period_end: datetime) -> tuple[bool, dict[str, Any]]:
    search = monitor["inputs"][0]["search"]
    rendered = _render(client, search["query"], period_end)
    response = client.search(index=",".join(search["indices"]), body=rendered)
    trigger = monitor["triggers"][0]["query_level_trigger"]
    return _condition(client, trigger["condition"]["script"]["source"], response), response


@pytest.mark.parametrize("stem,expected_hits", [("anomalies", 5), ("novel-template-burst", 6), ("incidents", 1)])
def test_query_level_monitors_fire_now_and_stay_quiet_a_day_later(node, data, stem, expected_hits):
    monitor = _monitors(data)[stem]
    assert monitor["monitor_type"] == "query_level_monitor"
    fired, response = _run_query_monitor(node, monitor, NOW + timedelta(seconds=5))
    assert fired and response["hits"]["total"]["value"] == expected_hits
    quiet, response = _run_query_monitor(node, monitor, NOW + timedelta(days=1))
    assert not quiet and response["hits"]["total"]["value"] == 0


def test_anomaly_monitor_counts_only_scores_from_1_5_in_its_window(node, data):
    _, response = _run_query_monitor(node, _monitors(data)["anomalies"], NOW + timedelta(seconds=5))
    # d002 (1.2) is flagged but under 1.5; d060 (1.95) is three hours old.
    assert response["aggregations"]["max_score"]["value"] == pytest.approx(1.9)
    top = response["aggregations"]["templates"]["buckets"][0]
    assert top["doc_count"] == 4 and top["key"] == data["stored"]["d000"][NS]["template"]["id"]


def test_novel_burst_monitor_stays_quiet_below_its_threshold(node, data):
    monitor = monitors(MonitorOptions(index_pattern=f"{data['index']}*", novel_burst=7))["novel-template-burst"]
    fired, response = _run_query_monitor(node, monitor, NOW + timedelta(seconds=5))
    assert response["hits"]["total"]["value"] == 6 and not fired


def _selected_buckets(client, monitor: dict[str, Any], period_end: datetime) -> list[Any]:
    """Run the monitor's search with its trigger as a bucket_selector inside the composite aggregation."""
    search = monitor["inputs"][0]["search"]
    query = copy.deepcopy(search["query"])
    condition = monitor["triggers"][0]["bucket_level_trigger"]["condition"]
    parent = query["aggregations"][condition["parent_bucket_path"]]
    parent["aggregations"]["trigger"] = {"bucket_selector": {"buckets_path": condition["buckets_path"],
                                                             "script": condition["script"]}}
    rendered = _render(client, query, period_end)
    response = client.search(index=",".join(search["indices"]), body=rendered)
    return [b["key"] for b in response["aggregations"][condition["parent_bucket_path"]]["buckets"]]


def test_bucket_level_monitors_select_the_template_and_session_over_threshold(node, data):
    built = _monitors(data)
    template_id = data["stored"]["d000"][NS]["template"]["id"]
    assert _selected_buckets(node, built["anomalous-templates"], NOW) == [{"template": template_id}]
    assert _selected_buckets(node, built["anomalous-sessions"], NOW) == [{"session": "blk_7"}]
    assert _selected_buckets(node, built["anomalous-templates"], NOW + timedelta(days=1)) == []


def test_document_level_monitor_query_matches_each_anomalous_document(node, data):
    monitor = _monitors(data)["anomalous-documents"]
    doc_input = monitor["inputs"][0]["doc_level_input"]
    expected = {i for i, s in data["stored"].items() if s[NS].get("anomaly", {}).get("is_anomaly")}
    (query,) = doc_input["queries"]
    assert _lucene_ids(node, data["index"], query["query"]) == expected
    condition = monitor["triggers"][0]["document_level_trigger"]["condition"]["script"]["source"]
    tag = re.fullmatch(r"query\[tag=([\w-]+)\]", condition).group(1)
    assert tag in query["tags"]


def _monitor_fields(node_: Any, out: dict[str, bool], aggregated: bool = False) -> None:
    if isinstance(node_, dict):
        for key, value in node_.items():
            if key in ("range", "term") and isinstance(value, dict):
                out.update({name: out.get(name, False) for name in value})
            elif key == "field" and isinstance(value, str):
                out[value] = True
            else:
                _monitor_fields(value, out)
    elif isinstance(node_, list):
        for item in node_:
            _monitor_fields(item, out)


def test_every_field_a_monitor_names_exists_and_aggregates_where_aggregated(node, data):
    for stem, monitor in _monitors(data).items():
        fields: dict[str, bool] = {}
        if "search" in monitor["inputs"][0]:
            _monitor_fields(monitor["inputs"][0]["search"]["query"], fields)
        else:
            for query in monitor["inputs"][0]["doc_level_input"]["queries"]:
                fields[query["query"].split(":")[0]] = False
        index = data["findings"] if stem == "incidents" else data["index"]
        assert fields, stem
        _check_field_caps(node, index, fields)


def test_alerting_install_dry_run_names_each_monitor(node, data, monkeypatch):
    from enricher.cli.main import app

    monkeypatch.setenv("ENRICHER_OPENSEARCH__HOSTS", json.dumps([OPENSEARCH_URL]))
    result = CliRunner().invoke(app, ["alerting", "install", "--index-pattern", f"{data['index']}*", "--dry-run"])
    assert result.exit_code == 0, result.output
    for monitor in _monitors(data).values():
        assert re.search(rf"would (create|update): {re.escape(monitor['name'])}$", result.output, re.M)


def test_alerting_install_without_the_plugin_exits_4(node, data, monkeypatch):
    from enricher.alerting import alerting_installed
    from enricher.cli.main import app

    if alerting_installed(node):
        pytest.skip("this node has the Alerting plugin")
    monkeypatch.setenv("ENRICHER_OPENSEARCH__HOSTS", json.dumps([OPENSEARCH_URL]))
    result = CliRunner().invoke(app, ["alerting", "install", "--index-pattern", f"{data['index']}*"])
    assert result.exit_code == 4 and "Alerting plugin" in result.output


# -- the README's queries --------------------------------------------------------------------------------------
def _readme_queries() -> list[tuple[str, str, str, str]]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Dashboards and alerts", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([^|]+) \| (enriched|findings) \| `([^`]+)` \| `([^`]+)` \|$", section, re.M)
    return [(q.strip(), where, dql, lucene) for q, where, dql, lucene in rows]


def test_readme_has_query_examples():
    assert len(_readme_queries()) >= 5


@pytest.mark.parametrize("question,where,dql,lucene", _readme_queries())
def test_every_readme_query_runs_and_both_forms_agree(node, data, question, where, dql, lucene):
    template_id = data["stored"]["d000"][NS]["template"]["id"]
    dql, lucene = dql.replace("<id>", template_id), lucene.replace("<id>", template_id)
    index = data["findings"] if where == "findings" else data["index"]
    by_dql = _ids(node, index, dql_to_query(dql))
    by_lucene = _lucene_ids(node, index, lucene)
    assert by_dql, f"{question}: {dql} finds nothing in the test data"
    assert by_dql == by_lucene, question
