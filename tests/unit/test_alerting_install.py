"""Monitor installation by name against a fake Alerting API: create, then update in place, never duplicate."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from enricher.alerting import AlertingUnavailable, MonitorOptions, install_monitors, monitors


class FakeAlerting:
    """The few Alerting endpoints install_monitors calls, keeping monitors in a dict."""

    def __init__(self, plugin: bool = True) -> None:
        self.plugin = plugin
        self.stored: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        self.cat = self
        self.transport = self

    def plugins(self, params: dict[str, str]) -> list[dict[str, str]]:
        return [{"component": "opensearch-alerting"}] if self.plugin else [{"component": "opensearch-security"}]

    def perform_request(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((method, path))
        if path.endswith("/_search"):
            phrase = body["query"]["match_phrase"]["monitor.name"]
            # A phrase match also finds longer names: install must compare names exactly.
            hits = [{"_id": i, "_source": {"monitor": m}} for i, m in self.stored.items() if phrase in m["name"]]
            return {"hits": {"hits": hits}}
        if method == "POST":
            self.stored[f"m{next(self._ids)}"] = body
        else:
            self.stored[path.rsplit("/", 1)[1]] = body
        return {}


def test_install_creates_then_updates_by_name_without_duplicates():
    fake = FakeAlerting()
    fake.stored["other"] = {"name": "log-enricher: anomalies (logs-*) copy"}
    bodies = list(monitors(MonitorOptions()).values())
    first = install_monitors(fake, bodies)
    assert len(first.created) == len(bodies) == 6 and not first.updated
    changed = list(monitors(MonitorOptions(min_score=2.0)).values())
    second = install_monitors(fake, changed)
    assert not second.created and second.updated == [b["name"] for b in bodies]
    assert len(fake.stored) == 7
    anomalies = next(m for m in fake.stored.values() if m["name"] == "log-enricher: anomalies (logs-*)")
    assert anomalies["inputs"][0]["search"]["query"]["query"]["bool"]["filter"][1]["range"] == {
        "enrichment.anomaly.score": {"gte": 2.0}}


def test_without_the_plugin_install_refuses_and_dry_run_changes_nothing():
    fake = FakeAlerting(plugin=False)
    bodies = list(monitors(MonitorOptions()).values())
    with pytest.raises(AlertingUnavailable, match="Alerting plugin"):
        install_monitors(fake, bodies)
    report = install_monitors(fake, bodies, dry_run=True)
    assert report.created == [b["name"] for b in bodies] and not report.plugin_present
    assert fake.calls == [] and fake.stored == {}


def test_dry_run_with_the_plugin_looks_up_but_writes_nothing():
    fake = FakeAlerting()
    bodies = list(monitors(MonitorOptions()).values())
    install_monitors(fake, bodies[:2])
    report = install_monitors(fake, bodies, dry_run=True)
    assert report.updated == [b["name"] for b in bodies[:2]] and len(report.created) == 4
    assert len(fake.stored) == 2
