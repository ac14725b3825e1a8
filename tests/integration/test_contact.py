"""First contact on a real node: a fresh cluster, the operator's templates, conflicting indices, the service."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import yaml
from opensearchpy import NotFoundError
from typer.testing import CliRunner

from enricher.cli.main import app
from enricher.cluster.mappings import (
    MANAGED_BY,
    component_template_name,
    index_template_name,
    install_mappings,
    put_mapping_on_existing,
)
from enricher.cluster.client import make_client

pytestmark = pytest.mark.integration
runner = CliRunner()


def _config(tmp_path, names, **extra):
    config = {
        "opensearch": {"hosts": [os.environ.get("ENRICHER_TEST_OPENSEARCH", "http://127.0.0.1:9200")]},
        "state_index": names["state"], "templates_index": names["templates"],
        "source": {"index_patterns": [names["pattern"]], "lookback": None},
        "models": {"registry": str(tmp_path / "registry"), "classifier": False},
        "schedule": {"interval_seconds": "1s"},
        "log_format": "text", "log_level": "INFO", **extra,
    }
    path = tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def operator_template(opensearch, names):
    """The operator's own index template for the test's pattern: priority 0, no replicas, a keyword field."""
    name = f"operator-{names['logs']}"
    opensearch.indices.put_index_template(name=name, body={
        "index_patterns": [names["pattern"]], "priority": 0,
        "template": {"settings": {"number_of_replicas": 0},
                     "mappings": {"properties": {"service": {"type": "keyword"}}}},
    })
    yield name
    opensearch.indices.delete_index_template(name=name)


def _delete_index_template(client, name):
    try:
        client.indices.delete_index_template(name=name)
    except NotFoundError:
        pass


def test_samples_load_works_on_a_cluster_without_a_checkpoint(opensearch, names, tmp_path):
    config = _config(tmp_path, names)
    result = runner.invoke(app, ["samples", "load", "--config", str(config), "--index", names["logs"],
                                 "--history", "40", "--live", "20"])
    assert result.exit_code == 0, result.output
    assert "reset the enricher's checkpoint" in result.output
    assert opensearch.count(index=names["logs"])["count"] >= 60


def test_the_operators_template_stays_in_force_for_new_indices(opensearch, names, make_settings, operator_template):
    settings = make_settings()
    report = install_mappings(opensearch, settings)
    assert report.conflicts == {}
    new_index = f"{names['logs']}-2026.11.29"
    opensearch.indices.create(index=new_index)  # a new daily index: the operator's template makes it
    index_settings = opensearch.indices.get_settings(index=new_index)[new_index]["settings"]["index"]
    assert index_settings["number_of_replicas"] == "0", "the operator's settings are not replaced"
    mapping = opensearch.indices.get_mapping(index=new_index)[new_index]["mappings"]
    assert mapping["properties"]["service"]["type"] == "keyword"
    # The pass start puts the enrichment mapping on it.
    result = put_mapping_on_existing(opensearch, settings)
    assert f"mapping of {new_index}" in result.changed and result.conflicts == {}
    mapping = opensearch.indices.get_mapping(index=new_index)[new_index]["mappings"]
    assert mapping["properties"]["service"]["type"] == "keyword"
    assert mapping["properties"]["enrichment"]["properties"]["status"]["type"] == "keyword"


def test_the_component_template_composes_into_the_operators_template(opensearch, names, make_settings):
    install_mappings(opensearch, make_settings())
    name = f"operator-composed-{names['logs']}"
    opensearch.indices.put_index_template(name=name, body={
        "index_patterns": [names["pattern"]], "priority": 0, "composed_of": [component_template_name("enrichment")],
        "template": {"settings": {"number_of_replicas": 0}}})
    try:
        opensearch.indices.create(index=names["logs"])
        mapping = opensearch.indices.get_mapping(index=names["logs"])[names["logs"]]["mappings"]
        assert mapping["properties"]["enrichment"]["properties"]["template"]["properties"]["id"]["type"] == "keyword"
    finally:
        opensearch.indices.delete_index_template(name=name)


@pytest.mark.parametrize("index_template", [False, True])
def test_two_configurations_with_overlapping_patterns_both_install(opensearch, names, make_settings, tmp_path,
                                                                  index_template):
    narrow = make_settings(mappings={"index_template": index_template})
    wide_pattern = names["logs"][: -2] + "*"  # overlaps names["pattern"]
    wide = make_settings(source={"index_patterns": [wide_pattern]}, mappings={"index_template": index_template})
    try:
        for settings in (narrow, wide):
            config = tmp_path / f"{uuid.uuid4().hex[:6]}.yaml"
            config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
            result = runner.invoke(app, ["mappings", "install", "--config", str(config)])
            assert result.exit_code == 0, result.output
        templates = [index_template_name("enrichment", [names["pattern"]]), index_template_name("enrichment", [wide_pattern])]
        installed = {}
        for name in templates:
            try:
                installed[name] = opensearch.indices.get_index_template(name=name)["index_templates"][0]["index_template"]
            except NotFoundError:
                pass
        if index_template:
            assert len(installed) == 2 and len({t["priority"] for t in installed.values()}) == 2
        else:
            assert installed == {}, "no index template unless opted in"
    finally:
        _delete_index_template(opensearch, index_template_name("enrichment", [wide_pattern]))


def test_an_index_template_of_the_earlier_design_is_removed(opensearch, names, make_settings):
    name = index_template_name("enrichment", [names["pattern"]])
    install_mappings(opensearch, make_settings())  # the component template it is composed of
    opensearch.indices.put_index_template(name=name, body={
        "index_patterns": [names["pattern"]], "composed_of": [component_template_name("enrichment")],
        "priority": 1, "_meta": {"managed_by": MANAGED_BY}})
    report = install_mappings(opensearch, make_settings())
    assert any(name in item for item in report.removed)
    with pytest.raises(NotFoundError):
        opensearch.indices.get_index_template(name=name)


def test_a_conflicting_index_is_reported_and_the_others_still_get_the_mapping(opensearch, names, make_settings,
                                                                              tmp_path):
    legacy, fresh = f"{names['logs']}-legacy", f"{names['logs']}-fresh"
    opensearch.indices.create(index=legacy, body={"mappings": {"properties": {"enrichment": {"type": "keyword"}}}})
    opensearch.indices.create(index=f"{names['logs']}-typed", body={"mappings": {"properties": {
        "enrichment": {"properties": {"template": {"properties": {"id": {"type": "long"}}}}}}}})
    opensearch.indices.create(index=fresh)
    result = put_mapping_on_existing(opensearch, make_settings())
    assert set(result.conflicts) == {legacy, f"{names['logs']}-typed"}
    assert "enrichment.template.id" in result.conflicts[f"{names['logs']}-typed"]
    assert result.changed == [f"mapping of {fresh}"]

    cli = runner.invoke(app, ["mappings", "install", "--config", str(_config(tmp_path, names))])
    assert cli.exit_code == 4
    assert f"conflict   {legacy}:" in cli.output and "unchanged  mapping of " + fresh in cli.output


def test_two_threads_share_the_client_without_discarding_connections(opensearch, make_settings, caplog):
    client = make_client(make_settings().opensearch)
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        workers = [threading.Thread(target=lambda: [client.cluster.health() for _ in range(30)]) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_the_service_logs_no_scheduler_chatter(opensearch, names, tmp_path):
    from datetime import datetime, timedelta, timezone

    from opensearchpy import helpers

    from enricher.samples import generate

    docs = generate(50, start=datetime.now(timezone.utc) - timedelta(hours=1), seed=5)
    helpers.bulk(opensearch, ({"_index": names["logs"], "_source": doc} for doc in docs), refresh="wait_for")
    # Passes longer than the interval: the scheduler skips runs, which it would warn about each time.
    config = _config(tmp_path, names, schedule={"interval_seconds": "100ms"})
    process = subprocess.Popen([sys.executable, "-m", "enricher.cli.main", "run", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"}, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        opensearch.indices.refresh(index=names["logs"])
        if opensearch.count(index=names["logs"], body={"query": {"exists": {"field": "enrichment.status"}}})["count"] >= 50:
            break
        time.sleep(0.2)
    time.sleep(2.5)  # let a few more (empty) scheduled passes run, so the scheduler had its chances to log
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-2000:]
    assert "pass finished" in stderr
    assert "apscheduler" not in stderr and "Running job" not in stderr


def test_an_index_mapped_by_v1_is_upgraded_in_place_to_the_current_mapping(opensearch, names, make_settings):
    import json
    from importlib import resources

    v1 = json.loads(resources.files("enricher").joinpath("resources", "mappings", "enrichment-v1.json").read_text())
    opensearch.indices.create(index=names["logs"], body={"mappings": {"properties": {
        "enrichment": {"properties": v1["properties"]}}}})
    report = install_mappings(opensearch, make_settings())
    assert not report.conflicts and any(names["logs"] in item for item in report.changed)
    fields = opensearch.field_caps(index=names["logs"], fields="enrichment.*")["fields"]
    assert fields["enrichment.template.text.search"]["text"]["searchable"]
    assert fields["enrichment.template.text"]["keyword"]["aggregatable"]
    assert fields["enrichment.anomaly.reason_code"]["keyword"]["aggregatable"]
    assert fields["enrichment.classification.source"]["keyword"]["aggregatable"]
    assert install_mappings(opensearch, make_settings()).changed == [], "a second install changes nothing"
