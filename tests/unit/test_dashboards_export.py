"""``enricher dashboards export``: the saved objects for the user's pattern and namespace, stable across runs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from enricher.cli.main import app


def _export(tmp_path, *args: str) -> list[dict]:
    out = tmp_path / "objects.ndjson"
    result = CliRunner().invoke(app, ["dashboards", "export", *args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_export_is_rewritten_for_pattern_and_namespace_and_ids_are_stable(tmp_path):
    first = _export(tmp_path, "--index-pattern", "app-*", "--namespace", "enr")
    again = _export(tmp_path, "--index-pattern", "app-*", "--namespace", "enr")
    default = _export(tmp_path)
    assert [o["id"] for o in first] == [o["id"] for o in again]
    assert not {o["id"] for o in first} & {o["id"] for o in default}
    assert first[0]["attributes"]["title"] == "app-*"
    text = json.dumps(first)
    assert "enrichment." not in text and "enr.template.id" in text


def test_export_refuses_a_namespace_that_cannot_be_a_field_prefix(tmp_path):
    result = CliRunner().invoke(app, ["dashboards", "export", "--namespace", "bad name"])
    assert result.exit_code == 2
