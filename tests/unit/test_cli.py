from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

from typer.testing import CliRunner

from enricher.cli.main import app
from enricher.observability import JsonFormatter

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "once", "status", "train", "mappings", "templates", "classifier", "sequence",
                    "autoencoder", "models", "samples"):
        assert command in result.output


def test_invalid_config_exits_2_with_the_setting_named(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("source:\n  batch_size: -1\n")
    result = runner.invoke(app, ["once", "--config", str(config)])
    assert result.exit_code == 2
    assert "source.batch_size" in result.output


def test_unreachable_opensearch_exits_3_with_a_hint(monkeypatch):
    monkeypatch.setenv("ENRICHER_OPENSEARCH__HOSTS", '["http://127.0.0.1:9"]')
    monkeypatch.setenv("ENRICHER_OPENSEARCH__MAX_CONNECTION_RETRIES", "0")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 3
    assert "cannot reach OpenSearch" in result.output and "opensearch.sh start" in result.output


def test_json_logs_carry_extra_fields():
    record = logging.LogRecord("enricher.orchestration.service", logging.INFO, __file__, 1, "pass finished", None, None)
    record.documents = 12
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "pass finished" and entry["documents"] == 12 and entry["level"] == "INFO"


def _readme_configuration_example() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_config_check_accepts_the_readme_example(tmp_path):
    config = tmp_path / "enricher.yaml"
    config.write_text(_readme_configuration_example())
    result = runner.invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown["source"]["late_arrival"] == "1h" and shown["source"]["lookback"] == "7d"
    assert shown["opensearch"]["password"] == "***" and "secret" not in result.stdout
    assert "ca_certs" in result.stderr, "the missing CA file is a warning"


def test_config_check_exits_2_with_one_line_per_problem(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("source:\n  late_arrival: soon\n  batch_size: 0\nsink:\n  nmespace: x\n")
    result = runner.invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert len(problems) == 3
    assert any("source.late_arrival" in p for p in problems) and any("sink.nmespace" in p for p in problems)


def test_config_check_hides_credentials_in_host_urls(monkeypatch):
    monkeypatch.setenv("ENRICHER_OPENSEARCH__HOSTS", '["https://admin:hunter2@os:9200"]')
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0 and "hunter2" not in result.output and "https://***@os:9200" in result.stdout
