"""The four CLI commands end to end on a tiny DeepLog-format file."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from enricher.cli.main import app


@pytest.mark.parametrize(
    ("group", "arch"), [("sequence", "lstm"), ("sequence", "transformer"), ("autoencoder", "lstm-ae"), ("autoencoder", "vae")]
)
def test_train_then_score_writes_one_json_line_per_session(tmp_path, group: str, arch: str) -> None:
    train = tmp_path / "train"
    train.write_text("".join(f"1 {'2 3 ' * (i % 3 + 2)}4\n" for i in range(30)))
    test = tmp_path / "test"
    test.write_text("1 2 3 2 3 4\n1 9 4\n\n")
    model_dir = tmp_path / "model"
    runner = CliRunner()
    trained = runner.invoke(
        app, [group, "train", "--sessions", str(train), "--model-dir", str(model_dir), "--arch", arch, "--epochs", "2", "--min-steps", "0"]
    )
    assert trained.exit_code == 0, trained.output
    assert (model_dir / "manifest.json").is_file() and (model_dir / "model.safetensors").is_file()
    out = tmp_path / "scores.jsonl"
    scored = runner.invoke(app, [group, "score", "--model-dir", str(model_dir), "--sessions", str(test), "--output", str(out)])
    assert scored.exit_code == 0, scored.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and set(rows[0]) == {"score", "is_anomaly"}
    assert rows[1]["is_anomaly"] is True  # template 9 was never seen in training
