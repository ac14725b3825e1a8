"""Findings without OpenSearch: trend detection, incident grouping and ranking, key terms, config, report."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from urllib.parse import unquote

import numpy as np
import pytest

from enricher.config import ConfigError, Settings, load_settings
from enricher.findings import incidents as inc
from enricher.findings.aggregate import Counts, Evidence
from enricher.config import FindingsConfig
from enricher.findings.keyterms import FALLBACK_STOPWORDS, KeyTerms
from enricher.findings.series import Finding, Grid, detect, floor_time

BUCKET = timedelta(minutes=5)
T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)


def grid(baseline_buckets: int = 72, window_buckets: int = 12) -> Grid:
    return Grid(start=T0, bucket=BUCKET, baseline=baseline_buckets, window=window_buckets)


def poisson(rate: float, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(rate, size).astype(float)


def test_a_tenfold_spike_is_found_with_its_onset_and_nothing_on_normal_traffic() -> None:
    g = grid()
    counts = poisson(20, g.size)
    assert detect(counts, g, FindingsConfig(), subject="template", template_id="t") == []
    counts[g.baseline + 4: g.baseline + 7] *= 10
    found = detect(counts, g, FindingsConfig(), subject="template", template_id="t")
    assert [(f.type, f.onset, f.end) for f in found] == [("spike", g.time(g.baseline + 4), g.time(g.baseline + 7))]
    assert found[0].observed > 5 * found[0].expected


def test_an_outage_in_the_baseline_does_not_hide_a_spike_or_fake_a_silence() -> None:
    g = grid()
    counts = poisson(20, g.size, seed=1)
    counts[10:16] = 0  # an outage in the history
    counts[30] = 400  # and a spike in the history
    assert detect(counts, g, FindingsConfig(), subject="template") == []
    counts[g.baseline + 2] = 300
    assert [f.type for f in detect(counts, g, FindingsConfig(), subject="template")] == ["spike"]


def test_recurring_bursts_held_by_the_baseline_are_not_findings() -> None:
    g = grid()
    counts = poisson(2, g.size, seed=2)
    counts[::6] += 80  # a cron job every half hour, in the history and in the window
    assert detect(counts, g, FindingsConfig(), subject="template") == []


def test_silence_needs_a_regular_template_and_a_gap_longer_than_any_in_the_baseline() -> None:
    g = grid()
    counts = poisson(15, g.size, seed=3)
    counts[g.baseline + 6:] = 0
    found = detect(counts, g, FindingsConfig(), subject="template")
    assert [(f.type, f.onset) for f in found] == [("silence", g.time(g.baseline + 6))]
    assert found[0].observed == 0 and found[0].expected > 50
    sparse = poisson(0.5, g.size, seed=3)  # irregular: long gaps are usual
    sparse[g.baseline + 6:] = 0
    assert detect(sparse, g, FindingsConfig(), subject="template") == []


def test_drop_and_new_template_burst_and_error_rate() -> None:
    g = grid()
    config = FindingsConfig()
    counts = poisson(60, g.size, seed=4)
    counts[g.baseline + 3: g.baseline + 8] = 5
    assert [f.type for f in detect(counts, g, config, subject="template")] == ["drop"]
    new = np.zeros(g.size)
    new[g.baseline + 5] = 30
    found = detect(new, g, config, subject="template", template_id="n")
    assert [(f.type, f.observed) for f in found] == [("new_template_burst", 30.0)]
    assert detect(new, g, config, subject="source") == [], "a host seen for the first time is no finding"
    errors = np.zeros(g.size)
    errors[g.baseline + 1] = 40
    assert [f.type for f in detect(errors, g, config, subject="errors", source="host=a")] == ["error_rate"]


def test_too_short_a_baseline_judges_nothing() -> None:
    g = grid(baseline_buckets=4)
    counts = np.zeros(g.size)
    counts[-1] = 1000
    assert detect(counts, g, FindingsConfig(), subject="template") == []


def test_grid_aligns_buckets_and_compares_same_hours_once_the_baseline_spans_days() -> None:
    g = Grid.covering(T0 + timedelta(minutes=7), T0 + timedelta(hours=1, minutes=7), timedelta(days=3), BUCKET)
    assert g.window_start == T0 + timedelta(minutes=5) and g.window == 12
    assert g.start == g.window_start - timedelta(days=3)
    keys = g.comparable_keys()
    assert keys[g.baseline] == g.window_start.hour and set(keys) == set(range(24))
    assert floor_time(T0 + timedelta(minutes=9, seconds=59), BUCKET) == T0 + BUCKET
    assert set(Grid(T0, BUCKET, 100, 10).comparable_keys()) == {0}


def _finding(kind: str, minute: int, *, template: str | None = None, source: str | None = None,
             subject: str = "template", score: float = 20.0) -> Finding:
    onset = T0 + timedelta(hours=6, minutes=minute)
    return Finding(type=kind, subject=subject, onset=onset, end=onset + timedelta(minutes=20), observed=100,
                   expected=10, score=score, template_id=template, source=source)


def _counts() -> Counts:
    g = grid()
    counts = Counts(grid=g)
    for host in ("a", "b", "c", "d"):
        counts.sources[host] = np.full(g.size, 25.0)
    counts.texts = {"t1": "Connection lost <*>", "t2": "Disk full on <*>"}
    return counts


def test_findings_close_in_time_form_one_incident() -> None:
    members = [inc.Member(onset=f.onset, end=f.end, finding=f) for f in
               (_finding("spike", 0, template="t1"), _finding("spike", 10, template="t2"),
                _finding("silence", 60, template="t3"))]
    groups = inc.group(members, timedelta(minutes=15))
    assert [len(g.members) for g in groups] == [2, 1]
    assert groups[0].templates() == ["t1", "t2"]


def test_the_earliest_strong_change_ranks_first_and_a_change_every_host_shares_is_no_host_cause() -> None:
    counts = _counts()
    incident = inc.Incident(members=[inc.Member(onset=f.onset, end=f.end, finding=f) for f in (
        _finding("spike", 0, template="t1", score=30),
        _finding("spike", 15, template="t2", score=30),
        _finding("error_rate", 0, source="host=a", subject="errors", score=40),
    )])
    spread = Evidence(docs=[], messages=[], total=400, sources={"a": 100, "b": 100, "c": 100, "d": 100}, sessions={})
    ranked = inc.rank(incident, counts, spread, source_field="host", namespace="enrichment", limit=5)
    assert [(c.kind, c.value) for c in ranked] == [("template", "t1"), ("template", "t2")]
    on_a = Evidence(docs=[], messages=[], total=400, sources={"a": 380, "b": 20}, sessions={})
    ranked = inc.rank(incident, counts, on_a, source_field="host", namespace="enrichment", limit=5)
    assert ("source", "a") in [(c.kind, c.value) for c in ranked[:2]]
    assert ranked[0].score >= ranked[-1].score


def test_queries_links_and_ids_are_deterministic() -> None:
    assert inc.kql("template", 'a"b', namespace="enrichment", source_field="host") == 'enrichment.template.id:"a\\"b"'
    assert inc.kql("source", "n1", namespace="enrichment", source_field="host.keyword") == 'host.keyword:"n1"'
    url = unquote(inc.discover_url("http://dash:5601/", "x:'y'", T0, T0 + BUCKET))
    assert url.startswith("http://dash:5601/app/data-explorer/discover#?_g=(time:(from:") and "!'y!'" in url
    assert inc.stable_id("p", "spike", "k") == inc.stable_id("p", "spike", "k") != inc.stable_id("p", "drop", "k")


def test_key_terms_are_words_the_incident_uses_more_than_usual() -> None:
    terms = KeyTerms()
    assert terms.tokenize("Connection closed by peer.") == ["Connection", "closed", "by", "peer", "."]
    assert terms.content_words("The connection to 10.0.0.1 was closed by the peer") == ["connection", "closed", "peer"]
    assert "the" in terms.stopwords and "the" in FALLBACK_STOPWORDS
    background = terms.term_weights({"Received block <*> of size <*>": 1000.0, "Connection closed": 50.0})
    ranked = terms.rank(["Disk quota exceeded on /data", "Disk quota exceeded on /var", "Received block 5 of size 9"],
                        background, top=3)
    assert [word for word, _ in ranked[:2]] == ["disk", "exceeded"] or [w for w, _ in ranked[:2]] == ["disk", "quota"]
    assert "block" not in [word for word, _ in ranked]


def test_findings_settings_validate_and_take_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    assert Settings().findings.index == "enricher-findings"
    monkeypatch.setenv("ENRICHER_FINDINGS__INTERVAL", "PT10M")
    monkeypatch.setenv("ENRICHER_FINDINGS__ENABLED", "false")
    settings = load_settings(None)
    assert settings.findings.interval == timedelta(minutes=10) and not settings.findings.enabled
    config = tmp_path / "c.yaml"
    config.write_text("findings:\n  bucket: 3600\n  window: 600\n")
    with pytest.raises(ConfigError, match="findings"):
        load_settings(config)


def test_report_time_arguments() -> None:
    import typer

    from enricher.cli.report import parse_time

    now = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    assert parse_time("now-6h", now) == now - timedelta(hours=6)
    assert parse_time("now", now) == now
    assert parse_time("2026-03-01T10:00:00", now) == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    with pytest.raises(typer.BadParameter):
        parse_time("yesterday", now)


def test_html_report_draws_one_chart_element_per_item() -> None:
    from enricher.findings.engine import FindingsRunReport
    from enricher.findings.render import render, report_data

    counts = _counts()
    counts.templates = {"t1": poisson(10, counts.grid.size), "t2": poisson(5, counts.grid.size)}
    counts.template_anomalies = {"t1": np.ones(counts.grid.size)}
    counts.template_errors = {"t2": np.ones(counts.grid.size)}
    counts.labels = {"INFO": 90, "ERROR": 10}
    counts.novel = {"t2": T0 + timedelta(hours=6, minutes=3)}
    finding = {"type": "spike", "onset": (T0 + timedelta(hours=6)).isoformat(), "summary": "spike: <b>",
               "window": {"end": (T0 + timedelta(hours=6, minutes=20)).isoformat()}, "observed": 100.0,
               "expected": 10.0, "score": 9.0, "template": {"id": "t1", "text": "Connection lost <*>"}, "source": None}
    report = FindingsRunReport(start=counts.grid.window_start, end=counts.grid.end, baseline_start=T0,
                               findings=[finding], counts=counts)
    html = render(report_data(report), "html")
    assert html.count("<svg") == 4 and html.count("class='series'") == 3
    assert html.count("class='finding'") == 1 and html.count("class='bar'") == 1 + 2
    assert "spike: &lt;b&gt;" in html and "<script" not in html
    assert "| spike | Connection lost <*> | 100 | 10 | 9.0 |" in render(report_data(report), "markdown")


def test_a_failing_findings_run_is_logged_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    from enricher.findings.engine import FindingsSchedule

    class Unreachable:
        def field_caps(self, **_: object) -> None:
            raise ConnectionError("cluster went away")

    settings = Settings(findings={"interval": "PT5M"})
    schedule = FindingsSchedule(Unreachable(), settings)  # type: ignore[arg-type]
    assert schedule.due(T0)
    assert schedule.run(T0) is None
    assert "findings run failed" in caplog.text
    assert not schedule.due(T0 + timedelta(minutes=4)) and schedule.due(T0 + timedelta(minutes=5))
    assert not FindingsSchedule(Unreachable(), Settings(findings={"enabled": False})).due(T0)  # type: ignore[arg-type]


def test_a_template_that_comes_in_blocks_is_silent_only_after_twice_its_longest_quiet_spell() -> None:
    g = grid()
    blocks = np.tile([300.0, 0.0, 0.0], g.size // 3 + 1)[: g.size]  # present in a third of the buckets
    config = FindingsConfig(regular_fraction=0.3)
    assert detect(blocks, g, config, subject="template") == [], "its usual quiet spells of 2 buckets"
    late = blocks.copy()
    late[g.baseline + 6] = 120  # a block split over two buckets: no silence
    late[g.baseline + 7] = 180
    assert detect(late, g, config, subject="template") == []
    long = blocks.copy()
    long[g.baseline + 3:] = 0
    found = detect(long, g, config, subject="template")
    assert [f.type for f in found] == ["silence"] and found[0].expected > 1000


def test_a_host_that_went_silent_is_a_cause_though_it_has_no_documents_to_show() -> None:
    counts = _counts()
    silence = _finding("silence", 0, source="host=d", subject="source", score=8)
    spread = _finding("spike", 5, template="t1", score=6)
    incident = inc.Incident(members=[inc.Member(onset=f.onset, end=f.end, finding=f) for f in (silence, spread)])
    evidence = Evidence(docs=[], messages=[], total=300, sources={"a": 100, "b": 100, "c": 100}, sessions={})
    ranked = inc.rank(incident, counts, evidence, source_field="host", namespace="enrichment", limit=5)
    assert [(c.kind, c.value) for c in ranked][:2] == [("source", "d"), ("template", "t1")]
    assert "silence" in ranked[0].reasons[0]


def test_a_session_holding_the_incidents_anomalies_is_a_candidate_cause() -> None:
    counts = _counts()
    incident = inc.Incident(members=[inc.Member(onset=f.onset, end=f.end, finding=f)
                                     for f in (_finding("spike", 0, template="t1", score=30),)])

    def doc(session, anomalous):
        return {"index": "logs", "id": f"{session}-{anomalous}",
                "source": {"enrichment": {"session": session, "anomaly": {"is_anomaly": anomalous}}}}

    sessions = {"s1": 300, "s2": 100}
    quiet = Evidence(docs=[doc("s1", False), doc("s2", False)], messages=[], total=400, sources={}, sessions=sessions)
    assert "session" not in {c.kind for c in inc.rank(incident, counts, quiet, source_field=None,
                                                        namespace="enrichment", limit=5)}
    flagged = Evidence(docs=[doc("s1", True), doc("s2", False)], messages=[], total=400, sources={},
                       sessions=sessions)
    ranked = inc.rank(incident, counts, flagged, source_field=None, namespace="enrichment", limit=5)
    assert ("session", "s1") in [(c.kind, c.value) for c in ranked]
    assert ("session", "s2") not in [(c.kind, c.value) for c in ranked], "no anomalies of its own"
