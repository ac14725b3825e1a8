"""``enricher anomaly train/score`` and the older ``sequence``/``autoencoder`` aliases on tiny DeepLog-format files."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("torch")

from enricher.anomaly import anomaly_kinds
from enricher.cli.anomaly import parse_duration
from enricher.cli.main import app

TINY = ["--epochs", "2", "--calibration-folds", "2", "--param", "hidden=8"]


@pytest.fixture
def files(tmp_path):
    train = tmp_path / "train"
    train.write_text("".join(f"1 {'2 3 ' * (i % 3 + 2)}4\n" for i in range(30)))
    test = tmp_path / "test"
    test.write_text("1 2 3 2 3 4\n1 9 4\n\n")
    return train, test


def _score(runner, model_dir, test, out, *extra):
    scored = runner.invoke(app, ["anomaly", "score", "--model-dir", str(model_dir), "--sessions", str(test), "--output", str(out), *extra])
    assert scored.exit_code == 0, scored.output
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("kind", anomaly_kinds())
def test_train_then_score_writes_one_json_line_per_session(tmp_path, files, kind: str) -> None:
    train, test = files
    model_dir = tmp_path / "model"
    runner = CliRunner()
    trained = runner.invoke(app, ["anomaly", "train", "--kind", kind, "--sessions", str(train), "--model-dir", str(model_dir), *TINY])
    assert trained.exit_code == 0, trained.output
    assert (model_dir / "manifest.json").is_file() and (model_dir / "fitted.json").is_file()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["kind"] == kind and config["epochs"] == 2 and config["hidden"] == 8
    rows = _score(runner, model_dir, test, tmp_path / "scores.jsonl", "--kind", kind)
    assert len(rows) == 3 and set(rows[0]) == {"score", "is_anomaly"}
    assert rows[1]["is_anomaly"] is True  # template 9 was never seen in training


@pytest.mark.parametrize(("group", "arch", "kind"), [("sequence", "lstm", "sequence-lstm"), ("autoencoder", "vae", "autoencoder-vae")])
def test_old_commands_are_aliases(tmp_path, files, group: str, arch: str, kind: str) -> None:
    train, test = files
    model_dir = tmp_path / "model"
    runner = CliRunner()
    trained = runner.invoke(app, [group, "train", "--sessions", str(train), "--model-dir", str(model_dir), "--arch", arch,
                                  "--epochs", "2", "--calibration-folds", "2", "--min-steps", "0"])
    assert trained.exit_code == 0, trained.output
    assert json.loads((model_dir / "config.json").read_text())["kind"] == kind
    scored = runner.invoke(app, [group, "score", "--model-dir", str(model_dir), "--sessions", str(test)])
    assert scored.exit_code == 0 and len(scored.stdout.splitlines()) == 3


def test_a_wrong_kind_or_hyperparameter_is_a_clear_error(tmp_path, files) -> None:
    train, _ = files
    runner = CliRunner()
    base = ["anomaly", "train", "--sessions", str(train), "--model-dir", str(tmp_path / "m")]
    wrong_kind = runner.invoke(app, [*base, "--kind", "sequence-lstn"])
    assert wrong_kind.exit_code == 2 and "known: sequence-lstm" in wrong_kind.output
    wrong_param = runner.invoke(app, [*base, "--kind", "autoencoder-vae", "--window", "5"])  # the VAE has no window
    assert wrong_param.exit_code == 2 and "window" in wrong_param.output
    assert not (tmp_path / "m").exists()


def test_durations() -> None:
    assert parse_duration("90") == parse_duration("90s") == 90.0
    assert parse_duration("5m") == 300.0 and parse_duration("1.5h") == 5400.0
    assert parse_duration("none") is None and parse_duration("0") is None
    with pytest.raises(typer.BadParameter):
        parse_duration("five minutes")
