from __future__ import annotations

import json
import logging

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
    record = logging.LogRecord("enricher.service", logging.INFO, __file__, 1, "pass finished", None, None)
    record.documents = 12
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "pass finished" and entry["documents"] == 12 and entry["level"] == "INFO"
