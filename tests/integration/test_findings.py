"""Findings against the real local OpenSearch: injected incidents on replayed Loghub traffic, the findings
index, the report in headless Chromium, and the service end to end."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from opensearchpy import helpers

from enricher.config import Settings
import simulate  # tests/simulate.py: enriched test traffic with injected incidents
from enricher.findings.engine import analyse, run_findings
from enricher.findings.index import ensure_findings_index
from enricher.findings.render import render, report_data
from tests.conftest import OPENSEARCH_URL

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, tzinfo=timezone.utc)
HISTORY, WINDOW = timedelta(hours=6), timedelta(hours=4)


@pytest.fixture(scope="module")
def scenario(opensearch, shared_data):
    """HDFS traffic (6 h of history, 4 h analysed) with the four injected incidents, loaded once."""
    index = f"logs-findings-test-{uuid.uuid4().hex[:8]}"
    docs, injections = simulate.scenario(shared_data / "loghub/HDFS/HDFS_2k.log_structured.csv", START, HISTORY,
                                         WINDOW, rate=1.0)
    simulate.load(opensearch, index, docs)
    yield index, docs, injections
    opensearch.indices.delete(index=index, params={"ignore_unavailable": "true"})


def _settings(index: str, findings_index: str = "enricher-findings-unused") -> Settings:
    return Settings(opensearch={"hosts": [OPENSEARCH_URL]}, source={"index_patterns": [index]},
                    findings={"window": WINDOW, "baseline": HISTORY, "settle": timedelta(0), "index": findings_index})


def test_every_injected_incident_is_found_with_its_cause_in_the_top_3(opensearch, scenario):
    index, _, injections = scenario
    report = analyse(opensearch, _settings(index), START + HISTORY, START + HISTORY + WINDOW)

    result = simulate.evaluate(report.findings, report.incidents, injections, report.documents,
                               slack=timedelta(minutes=15))
    assert set(result.found) == {"spike", "error_burst", "new_path", "silence"}
    assert result.all_found_top3, result.found
    assert result.false_findings <= max(1, report.documents // 10_000), report.findings
    silence = next(f for f in report.findings if f["type"] == "silence")
    assert silence["template"]["id"] == injections[3].cause and silence["observed"] == 0
    incident = next(i for i in report.incidents if i["top_cause"]["value"] == injections[2].cause)
    assert {"commit", "nullpointerexception"} <= set(incident["key_terms"]), incident["key_terms"]
    assert incident["doc_ids"] and "template.id" in incident["dashboards"]["query"]


def test_findings_index_is_installed_and_reruns_overwrite(opensearch, scenario, names, make_settings):
    index, _, _ = scenario
    findings_index = names["findings"]
    settings = make_settings(source={"index_patterns": [index]},
                             findings={"window": WINDOW, "baseline": HISTORY, "settle": timedelta(0),
                                       "index": findings_index})
    ensure_findings_index(opensearch, settings)  # as `enricher mappings install` and every findings run do
    mapping = opensearch.indices.get_mapping(index=findings_index)[findings_index]["mappings"]
    assert mapping["_meta"]["findings_mapping_version"] == 1 and mapping["properties"]["onset"]["type"] == "date"

    first = run_findings(opensearch, settings, START + HISTORY + WINDOW)
    opensearch.indices.refresh(index=findings_index)
    count = opensearch.count(index=findings_index)["count"]
    second = run_findings(opensearch, settings, START + HISTORY + WINDOW)
    opensearch.indices.refresh(index=findings_index)

    assert count == len(first.findings) + len(first.incidents) > 0
    assert opensearch.count(index=findings_index)["count"] == count, "a re-run over the same window duplicates"
    assert sorted(d["_id"] for d in first.incidents) == sorted(d["_id"] for d in second.incidents)
    stored = opensearch.search(index=findings_index, body={"query": {"term": {"kind": "incident"}}, "size": 50})
    assert all(hit["_source"]["causes"] and hit["_source"]["model_versions"] for hit in stored["hits"]["hits"])


def test_report_draws_its_charts_in_headless_chromium(opensearch, scenario, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium): cannot check that the report draws")
    index, _, _ = scenario
    report = analyse(opensearch, _settings(index), START + HISTORY, START + HISTORY + WINDOW)
    page = tmp_path / "report.html"
    page.write_text(render(report_data(report), "html"), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp_path / 'profile'}"]

    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    subprocess.run([chromium, *flags, f"--screenshot={tmp_path / 'report.png'}", "--window-size=1100,2400",
                    page.as_uri()], capture_output=True, timeout=120, check=True)

    assert dom.count("<svg") >= 4, "documents over time, timeline, top anomalous templates, label mix"
    assert len(re.findall(r"<polyline[^>]*class=\"series\"", dom)) == 3
    assert len(re.findall(r"<rect[^>]*class=\"finding\"", dom)) == len(report.findings)
    assert len(re.findall(r"<rect[^>]*class=\"bar\"", dom)) >= 4
    assert dom.count("class=\"incident\"") == len(report.incidents) >= 4
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_markdown_and_json_reports_hold_the_incidents(opensearch, scenario):
    index, _, injections = scenario
    data = report_data(analyse(opensearch, _settings(index), START + HISTORY, START + HISTORY + WINDOW))
    markdown = render(data, "markdown")
    assert markdown.count("## Incident ") == len(data["incidents"])
    assert "Failed to commit transaction" in markdown
    assert injections[0].cause in render(data, "json")


def test_service_writes_findings_after_a_pass_over_raw_documents(opensearch, names, make_settings, shared_data):
    """The real service (templates only: empty model registry) enriches raw lines, then its findings run
    names a new failing code path and a silenced template, and writes them to the findings index."""
    from enricher.orchestration.service import EnrichmentService

    now = datetime.now(timezone.utc)
    window, history = timedelta(hours=2), timedelta(hours=6)
    lines = simulate.load_lines(shared_data / "loghub/HDFS/HDFS_2k.log_structured.csv")
    silenced = simulate.regular_templates(lines)[0]
    silence_from = now - timedelta(minutes=40)
    docs = [{"@timestamp": d["@timestamp"], "message": d["message"], "host": d["host"]}
            for d in simulate.replay(lines, now - window - history, now, rate=0.5, skip={silenced},
                                     silence_from=silence_from)]
    failing = simulate.Injection("new_path", now - timedelta(minutes=70), now - timedelta(minutes=55), "template", "")
    rng = __import__("numpy").random.default_rng(5)
    docs += [{"@timestamp": d["@timestamp"], "message": d["message"], "host": d["host"]}
             for d in simulate._burst(simulate.NEW_TEMPLATE, "ERROR", failing, 0.1, rng)]
    opensearch.indices.create(index=names["logs"], body={"mappings": {"properties": {"@timestamp": {"type": "date"}}}})
    helpers.bulk(opensearch, ({"_index": names["logs"], "_source": doc} for doc in docs), refresh="wait_for")
    settings = make_settings(source={"batch_size": 1000},
                             findings={"index": names["findings"], "window": window, "baseline": history,
                                       "settle": timedelta(0)})
    service = EnrichmentService(settings, opensearch)
    service.prepare()

    report = service.run_pass()

    assert report.enriched == len(docs)
    findings = service.findings.last_report
    assert findings is not None and findings.documents > 0
    by_type = {}
    for finding in findings.findings:
        by_type.setdefault(finding["type"], []).append(finding)
    new = [f for f in by_type.get("new_template_burst", []) if "Failed to commit transaction" in f["template"]["text"]]
    assert len(new) == 1 and new[0]["observed"] == 90
    silences = by_type.get("silence", [])
    assert any("addStoredBlock" in f["template"]["text"] for f in silences), silences
    assert all(abs(datetime.fromisoformat(f["onset"]) - silence_from) <= timedelta(minutes=10) for f in silences)
    incident = next(i for i in findings.incidents if i["top_cause"]["value"] == new[0]["template"]["id"])
    assert incident["doc_ids"]
    opensearch.indices.refresh(index=names["findings"])
    assert opensearch.count(index=names["findings"])["count"] == len(findings.findings) + len(findings.incidents)
    assert not service.findings.due(datetime.now(timezone.utc)), "the next run waits for findings.interval"


def test_report_command_writes_html_and_markdown(opensearch, scenario, tmp_path, monkeypatch, names):
    from typer.testing import CliRunner

    from enricher.cli.main import app

    index, _, injections = scenario
    monkeypatch.setenv("ENRICHER_OPENSEARCH__HOSTS", f'["{OPENSEARCH_URL}"]')
    monkeypatch.setenv("ENRICHER_SOURCE__INDEX_PATTERNS", f'["{index}"]')
    monkeypatch.setenv("ENRICHER_FINDINGS__INDEX", names["findings"])
    span = ["--from", (START + HISTORY).isoformat(), "--to", (START + HISTORY + WINDOW).isoformat()]
    runner = CliRunner()

    html = runner.invoke(app, ["report", *span, "--output", str(tmp_path / "r.html"), "--write"])
    markdown = runner.invoke(app, ["report", *span, "--format", "markdown", "--output", "-"])
    bad = runner.invoke(app, ["report", "--from", "now", "--to", "now-1h", "--output", "-"])

    assert html.exit_code == 0, html.output
    assert (tmp_path / "r.html").read_text().count("class='incident'") >= 4
    opensearch.indices.refresh(index=names["findings"])
    assert opensearch.count(index=names["findings"], body={"query": {"term": {"kind": "incident"}}})["count"] >= 4
    assert markdown.exit_code == 0 and "## Incident 4" in markdown.output and injections[0].cause in markdown.output
    assert bad.exit_code != 0 and "must be after" in bad.output
