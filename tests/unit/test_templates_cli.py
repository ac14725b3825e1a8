import json

from typer.testing import CliRunner

from enricher.cli.main import app
from enricher.templates import PartitionedMiner, template_id_of

runner = CliRunner()


def mine(*args: str) -> list[dict]:
    result = runner.invoke(app, ["templates", "mine", "--no-progress", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_mine_writes_final_templates_per_line(tmp_path) -> None:
    source = tmp_path / "in.log"
    source.write_text("peers a1 a2 joined\npeers b1 joined\nsession qZ7K2WbR004311 created\n", encoding="utf-8")
    records = mine("--input", str(source))
    assert [r["template"] for r in records] == ["peers <*> joined", "peers <*> joined", "session <*> created"]
    assert records[0]["template_id"] == records[1]["template_id"] == template_id_of("peers <*> joined")
    assert records[0]["params"] == ["a1 a2"] and records[2]["params"] == ["qZ7K2WbR004311"]


def test_mine_with_partitions_keeps_sources_apart_in_one_state(tmp_path) -> None:
    state = tmp_path / "state.json"
    source = tmp_path / "in.log"
    source.write_text("Connection closed by 10.0.0.1\n", encoding="utf-8")
    ssh = mine("--input", str(source), "--state", str(state), "--partition", "ssh")
    web = mine("--input", str(source), "--state", str(state), "--partition", "web")
    assert ssh[0]["template"] == web[0]["template"] == "Connection closed by <*>"
    assert ssh[0]["template_id"] == template_id_of("Connection closed by <*>", "ssh")
    assert web[0]["template_id"] == template_id_of("Connection closed by <*>", "web")
    assert PartitionedMiner.load(state).partitions() == ["ssh", "web"]
    again = mine("--input", str(source), "--state", str(state), "--partition", "ssh")
    assert again[0]["template_id"] == ssh[0]["template_id"] and not again[0]["is_new"]
