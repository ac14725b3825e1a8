"""Synthetic sessions sampled from a trained VAE (``anomaly generate``) and their rendering as log lines."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from enricher.anomaly import AnomalyEstimator, VaeDetector
from enricher.anomaly.generate import load_templates, render_template
from enricher.cli.main import app

torch.set_num_threads(1)
TEMPLATES = {"1": "open file <*>", "2": "read <*> bytes from <*>", "3": "write block <*>", "4": "close", "5": "audit"}


def training_sessions(n: int = 80, seed: int = 0) -> list[list[str]]:
    """open, 2-4 x (read write), an audit line in half of them, close."""
    rng = random.Random(seed)
    return [["1", *(["2", "3"] * rng.randint(2, 4)), *(["5"] if i % 2 else []), "4"] for i in range(n)]


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory) -> Path:
    model = VaeDetector(hidden=16, latent=2, epochs=150, calibration_folds=2, train_prefixes=False, seed=0)
    return model.fit(training_sessions()).save_pretrained(tmp_path_factory.mktemp("vae") / "model")


@pytest.fixture(scope="module")
def vae(vae_dir: Path) -> VaeDetector:
    model = AnomalyEstimator.from_pretrained(vae_dir)
    assert isinstance(model, VaeDetector)
    return model


def test_sampling_is_seeded_and_uses_only_known_templates(vae: VaeDetector) -> None:
    first = vae.sample_sessions(40, np.random.default_rng(7))
    assert first == vae.sample_sessions(40, np.random.default_rng(7))
    assert first != vae.sample_sessions(40, np.random.default_rng(8))
    assert {key for session in first for key in session} <= set(TEMPLATES)
    lengths = [len(session) for session in first]
    assert min(lengths) >= 3 and max(lengths) <= 15  # training sessions hold 6 to 11 events


def test_generated_sessions_resemble_training(vae: VaeDetector) -> None:
    sessions = vae.sample_sessions(60, np.random.default_rng(1))
    generated = Counter(key for session in sessions for key in session)
    trained = Counter(key for session in training_sessions() for key in session)
    top = trained.most_common(1)[0][0]
    assert top in {key for key, _ in generated.most_common(2)}
    # The learned positions put open first and close last, read before write.
    ordered = [s for s in sessions if s and s[0] == "1" and s[-1] == "4"]
    assert len(ordered) >= 0.8 * len(sessions)
    assert all(s.index("2") < s.index("3") for s in sessions if "2" in s and "3" in s)


def test_a_model_without_learned_positions_orders_by_template_id(vae: VaeDetector) -> None:
    vae.event_position_, saved = None, vae.event_position_
    try:
        sessions = vae.sample_sessions(10, np.random.default_rng(2))
    finally:
        vae.event_position_ = saved
    assert all(s == sorted(s, key=int) for s in sessions)


def test_cli_generates_a_file_that_score_reads(vae_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "generated"
    made = runner.invoke(app, ["anomaly", "generate", "--model-dir", str(vae_dir), "--count", "50", "--seed", "3",
                               "--output", str(out)])
    assert made.exit_code == 0, made.output
    lines = out.read_text().splitlines()
    assert len(lines) == 50 and all(line.split() for line in lines)
    again = runner.invoke(app, ["autoencoder", "generate", "--model-dir", str(vae_dir), "--count", "50", "--seed", "3"])
    assert again.exit_code == 0 and again.stdout.splitlines()[:50] == lines  # the alias, same seed, same sessions
    scores = tmp_path / "scores.jsonl"
    scored = runner.invoke(app, ["anomaly", "score", "--model-dir", str(vae_dir), "--sessions", str(out),
                                 "--output", str(scores)])
    assert scored.exit_code == 0, scored.output
    flags = [json.loads(row)["is_anomaly"] for row in scores.read_text().splitlines()]
    assert len(flags) == 50 and sum(not flag for flag in flags) >= 25  # the model finds most of its samples normal


def test_render_fills_every_wildcard(vae_dir: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates.jsonl"  # the 'templates mine' shape: one line per log line, ids repeat
    templates.write_text("".join(json.dumps({"template_id": k, "template": t, "params": []}) + "\n"
                                 for k, t in [*TEMPLATES.items(), ("2", TEMPLATES["2"])]))
    out = tmp_path / "rendered.jsonl"
    runner = CliRunner()
    made = runner.invoke(app, ["anomaly", "generate", "--model-dir", str(vae_dir), "--count", "5", "--render",
                               "--templates", str(templates), "--output", str(out)])
    assert made.exit_code == 0, made.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {row["session"] for row in rows} <= set(range(5))
    assert all(set(row) == {"session", "event", "template_id", "message"} for row in rows)
    assert all("<*>" not in row["message"] for row in rows)
    assert any(row["message"].startswith("open file ") and row["message"] != "open file " for row in rows)
    without = runner.invoke(app, ["anomaly", "generate", "--model-dir", str(vae_dir), "--count", "5", "--render"])
    assert without.exit_code == 2 and "--templates" in without.output


def test_render_refuses_missing_templates(vae_dir: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "templates.json"
    mapping.write_text(json.dumps({"1": "open <*>"}))
    assert load_templates(mapping) == {"1": "open <*>"}
    made = CliRunner().invoke(app, ["anomaly", "generate", "--model-dir", str(vae_dir), "--count", "5", "--render",
                                    "--templates", str(mapping)])
    assert made.exit_code == 2 and "no template text" in made.output


def test_rendered_values_are_seeded() -> None:
    one = render_template("<*> to <*> at <*>", np.random.default_rng(0))
    assert one == render_template("<*> to <*> at <*>", np.random.default_rng(0)) and "<*>" not in one
    assert len(one.split(" ")) == 5


def test_only_a_vae_generates(tmp_path: Path) -> None:
    from enricher.anomaly import LstmSequenceDetector

    lstm = LstmSequenceDetector(hidden=8, epochs=2, calibration_folds=2).fit(training_sessions(20))
    folder = lstm.save_pretrained(tmp_path / "lstm")
    made = CliRunner().invoke(app, ["anomaly", "generate", "--model-dir", str(folder), "--count", "2"])
    assert made.exit_code == 2 and "only autoencoder-vae" in made.output
