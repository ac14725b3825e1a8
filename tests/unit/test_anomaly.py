"""Anomaly detectors and stages on tiny synthetic sessions (a few epochs: behaviour, not accuracy)."""

from __future__ import annotations

import json
import random

import pytest

torch = pytest.importorskip("torch")

from enricher.anomaly import AutoencoderDetector, AutoencoderStage, NgramBaseline, SequenceDetector, SequenceStage
from enricher.anomaly.io import read_sessions, write_scores
from enricher.records import AnomalyEvent
from enricher.registry import ModelIntegrityError, read_manifest

torch.set_num_threads(1)


def normal_sessions(n: int = 60, seed: int = 0) -> list[list[str]]:
    """A strict grammar: open, 2-4 x (read write), close."""
    rng = random.Random(seed)
    return [["1", *(["2", "3"] * rng.randint(2, 4)), "4"] for _ in range(n)]


@pytest.fixture(scope="module")
def lstm() -> SequenceDetector:
    return SequenceDetector("lstm", window=4, hidden=16, embed_dim=8, epochs=200, batch_size=8, calibration_quantile=1.0).fit(
        normal_sessions()
    )


@pytest.fixture(scope="module")
def lstm_ae() -> AutoencoderDetector:
    return AutoencoderDetector(
        "lstm-ae", window=4, hidden=16, embed_dim=8, latent=8, epochs=300, batch_size=8, calibration_folds=3
    ).fit(
        normal_sessions()
    )


def test_sequence_flags_wrong_order_and_truncation_but_not_normal(lstm: SequenceDetector) -> None:
    normal = lstm.score_sessions(normal_sessions(10, seed=1))
    assert not any(bad for _, bad in normal)
    swapped, truncated = lstm.score_sessions([["1", "3", "2", "2", "3", "4"], ["1", "2"]])
    assert swapped[1] and truncated[1]


def test_unseen_template_is_anomalous(lstm: SequenceDetector, lstm_ae: AutoencoderDetector) -> None:
    assert lstm.score_sessions([["1", "2", "3", "99", "4"]])[0][1]
    assert lstm_ae.score_sessions([["1", "2", "3", "99", "4"]])[0][1]


def test_transformer_variant_trains_and_scores() -> None:
    det = SequenceDetector("transformer", window=4, hidden=16, heads=2, layers=1, epochs=3, min_steps=0)
    results = det.fit(normal_sessions(20)).score_sessions([["1", "2", "3", "4"], []])
    assert len(results) == 2 and all(isinstance(s, float) for s, _ in results)


def test_sequence_round_trip_through_sealed_folder(lstm: SequenceDetector, tmp_path) -> None:
    folder = lstm.save_pretrained(tmp_path / "m", training_data={"source": "synthetic"})
    manifest = read_manifest(folder)
    assert manifest.kind == "sequence-lstm" and manifest.thresholds["session"] == lstm.threshold
    assert len(list(folder.glob("fold-*.safetensors"))) == len(lstm.members) == 5  # the ensemble
    loaded = SequenceDetector.from_pretrained(folder)
    assert len(loaded.members) == 5
    sessions = normal_sessions(5, seed=3) + [["1", "2"]]
    assert loaded.score_sessions(sessions) == lstm.score_sessions(sessions)
    (folder / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(ModelIntegrityError):
        SequenceDetector.from_pretrained(folder)


def test_sequence_stage_reasons_state_and_bounded_memory(lstm: SequenceDetector) -> None:
    def events(key: str, ids: list[str]) -> list[AnomalyEvent]:
        return [AnomalyEvent(key, t, f"op {t}", f"op {t} done") for t in ids]

    stage = SequenceStage(lstm, "v1", max_sessions=2)
    first = stage.score(events("a", ["1", "2", "3"]) + events("b", ["1", "3"]))
    assert [v.is_anomaly for v in first] == [False, False, False, False, True]
    assert "unexpected after 1" in first[-1].reasons[0]
    # Restart: a fresh stage loaded from JSON continues session "a" where it stopped.
    restored = SequenceStage(lstm, "v1", max_sessions=2)
    restored.load_state(json.loads(json.dumps(stage.to_state())))
    assert not restored.score(events("a", ["2"]))[0].is_anomaly
    fresh = SequenceStage(lstm, "v1")
    assert fresh.score(events("a", ["2"]))[0].is_anomaly  # "2" cannot start a session
    stage.score(events("c", ["1"]) + events("d", ["1"]))
    assert len(stage.memory) == 2 and "a" not in stage.memory.sessions
    assert stage.score(events("e", ["77"]))[0].reasons == ["unseen template 77"]


def test_lstm_autoencoder_scores_and_stage(lstm_ae: AutoencoderDetector, tmp_path) -> None:
    normal = lstm_ae.score_sessions(normal_sessions(10, seed=1))
    assert sum(bad for _, bad in normal) <= 1
    assert lstm_ae.score_sessions([["1", "4", "4", "4", "1"]])[0][1]
    loaded = AutoencoderDetector.from_pretrained(lstm_ae.save_pretrained(tmp_path / "ae"))
    assert read_manifest(tmp_path / "ae").kind == "autoencoder-lstm"
    stage = AutoencoderStage(loaded, "v2", max_sessions=10)
    verdicts = stage.score([AnomalyEvent("s", t, "x <*>", f"x {t}") for t in ["1", "2", "3"]])
    assert len(verdicts) == 3 and verdicts[0].model_version == "v2"
    again = AutoencoderStage(loaded, "v2")
    again.load_state(json.loads(json.dumps(stage.to_state())))
    assert again.memory.sessions["s"][0] == stage.memory.sessions["s"][0]


def test_vae_uses_text_features_optionally_and_flags_truncation(tmp_path) -> None:
    sessions = normal_sessions(80)
    texts = [[f"event {k} ok" for k in s] for s in sessions]
    det = AutoencoderDetector("vae", hidden=16, epochs=80, batch_size=8, calibration_folds=0).fit(sessions, event_texts=texts)
    assert det.score_sessions([["1", "2"]])[0][1]
    loaded = AutoencoderDetector.from_pretrained(det.save_pretrained(tmp_path / "vae"))
    assert loaded.score_sessions(sessions[:5]) == det.score_sessions(sessions[:5])
    stage = AutoencoderStage(loaded, "v1")
    assert len(stage.score([AnomalyEvent("s", "1", "a", "a"), AnomalyEvent("s", "2", "b", "b")])) == 2
    assert stage.to_state()["sessions"][0][1] == {"1": 1, "2": 1}


def test_ngram_baseline() -> None:
    base = NgramBaseline().fit([["1", "2", "3"]])
    assert base.score_sessions([["1", "2", "3"], ["1", "3"]]) == [(0.0, False), (1.0, True)]


def test_session_file_io(tmp_path) -> None:
    path = tmp_path / "sessions"
    path.write_text("5 5 22\n\n11 9\n")
    assert read_sessions(path) == [["5", "5", "22"], [], ["11", "9"]]
    out = tmp_path / "out.jsonl"
    with out.open("w") as handle:
        write_scores([(1.5, True), (0.1, False)], handle)
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"score": 1.5, "is_anomaly": True},
        {"score": 0.1, "is_anomaly": False},
    ]


def test_sequence_kfold_calibration_trains_on_all_sessions(lstm: SequenceDetector) -> None:
    assert lstm.metrics["calibration"] == "5-fold" and lstm.metrics["train_sessions"] == 60
    assert lstm.metrics["calibration_sessions"] == 60  # every session scored once by a model that never saw it
    assert lstm.threshold > 0 and lstm.end_threshold > 0
    sliced = SequenceDetector("lstm", window=4, hidden=8, embed_dim=4, epochs=2, min_steps=0, calibration_folds=0).fit(normal_sessions())
    assert sliced.metrics["calibration"] == "held-out slice" and sliced.metrics["train_sessions"] == 54


def test_sequence_stage_sums_surprise_over_a_session(lstm: SequenceDetector) -> None:
    stage = SequenceStage(lstm, "v1")
    verdicts = stage.score([AnomalyEvent("s", t, "x", "x") for t in ["1", "3", "3", "3"]])
    flagged = [v for v in verdicts if v.is_anomaly]
    assert flagged and "session surprise" in flagged[0].reasons[0]
    score, is_anomaly = stage.session_verdict("s")  # type: ignore[misc]
    assert is_anomaly and score >= max(v.score for v in verdicts)


def test_vae_service_verdicts_use_a_prefix_model(tmp_path) -> None:
    sessions = normal_sessions(80)
    det = AutoencoderDetector("vae", hidden=16, epochs=80, batch_size=8, calibration_folds=3).fit(sessions)
    folder = det.save_pretrained(tmp_path / "vae")
    assert (folder / "prefix.safetensors").is_file()
    thresholds = read_manifest(folder).thresholds
    assert thresholds["event"] != thresholds["session"]
    stage = AutoencoderStage(AutoencoderDetector.from_pretrained(folder), "v1")
    running = [AnomalyEvent(f"n{i}", t, "x", "x") for i, s in enumerate(normal_sessions(10, seed=5)) for t in s]
    assert sum(v.is_anomaly for v in stage.score(running)) <= 2  # normal sessions in progress look normal
    assert any(v.is_anomaly for v in stage.score([AnomalyEvent("bad", t, "x", "x") for t in ["4", "4", "4", "4", "4"]]))


def test_sequence_ensemble_averages_probabilities(lstm: SequenceDetector) -> None:
    import numpy as np

    contexts, targets = lstm._rows([["1", "2", "3", "4"]], with_end=True)
    full, members = lstm.model, lstm.members
    ensemble_p = np.exp(-lstm.score_rows(contexts, targets).nll)
    single_p = []
    try:
        for model in [full, *members]:
            lstm.model, lstm.members = model, []
            single_p.append(np.exp(-lstm.score_rows(contexts, targets).nll))
    finally:
        lstm.model, lstm.members = full, members
    assert np.allclose(ensemble_p, np.mean(single_p, axis=0), atol=1e-5)


def test_autoencoder_kfold_calibration_scores_every_session(lstm_ae: AutoencoderDetector) -> None:
    assert lstm_ae.metrics["calibration"] == "3-fold" and lstm_ae.metrics["train_sessions"] == 60
    assert lstm_ae.metrics["calibration_sessions"] == 60
    sliced = AutoencoderDetector("lstm-ae", window=4, hidden=8, epochs=2, min_steps=0, calibration_folds=0)
    sliced.fit(normal_sessions())
    assert sliced.metrics["calibration"] == "held-out slice" and sliced.metrics["train_sessions"] == 54
