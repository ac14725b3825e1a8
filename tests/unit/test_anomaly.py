"""Anomaly estimators and the stage on tiny synthetic sessions (few epochs: behaviour, not accuracy)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import timedelta

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from enricher.anomaly import (
    AnomalyEstimator,
    AnomalyStage,
    LstmAutoencoderDetector,
    LstmSequenceDetector,
    NgramBaseline,
    VaeDetector,
    anomaly_kinds,
    estimator_class,
)
from enricher.anomaly.io import read_sessions, write_scores
from enricher.records import AnomalyEvent
from enricher.registry import ModelIntegrityError, read_manifest, write_manifest

torch.set_num_threads(1)
TINY = {"hidden": 8, "epochs": 4, "calibration_folds": 2}  # smallest settings that train every kind


def normal_sessions(n: int = 60, seed: int = 0) -> list[list[str]]:
    """A strict grammar: open, 2-4 x (read write), close."""
    rng = random.Random(seed)
    return [["1", *(["2", "3"] * rng.randint(2, 4)), "4"] for _ in range(n)]


def events(key: str, ids: list[str], start: float | None = None, step: float = 1.0) -> list[AnomalyEvent]:
    return [AnomalyEvent(key, t, f"op {t}", f"op {t} done", None if start is None else start + i * step)
            for i, t in enumerate(ids)]


@pytest.fixture(scope="module")
def lstm() -> LstmSequenceDetector:
    return LstmSequenceDetector(
        window=4, hidden=32, embed_dim=8, layers=1, epochs=40, calibration_folds=3, calibration_quantile=1.0
    ).fit(normal_sessions())


@pytest.fixture(scope="module")
def lstm_ae() -> LstmAutoencoderDetector:
    return LstmAutoencoderDetector(window=4, hidden=16, embed_dim=8, latent=8, epochs=60, calibration_folds=3).fit(
        normal_sessions()
    )


def test_kind_table_is_readable_without_torch() -> None:
    code = "import sys, enricher.config, enricher.anomaly.kinds as k; print(k.anomaly_kinds(), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False") and "autoencoder-vae" in out
    assert [estimator_class(kind).kind for kind in anomaly_kinds()] == anomaly_kinds()
    with pytest.raises(ValueError, match="known: sequence-lstm"):
        estimator_class("sequence-lstn")


@pytest.mark.parametrize("kind", anomaly_kinds())
def test_every_kind_fits_scores_and_round_trips_through_its_folder(kind: str, tmp_path) -> None:
    estimator = estimator_class(kind)(**TINY).fit(normal_sessions(20))
    sessions = [*normal_sessions(3, seed=4), ["1", "2"], ["1", "99", "4"], []]
    scores = estimator.decision_function(sessions)
    assert scores.shape == (6,) and scores[4] > estimator.threshold_  # template 99 was never seen
    assert list(estimator.predict(sessions)) == [s > estimator.threshold_ for s in scores]
    assert set(estimator.thresholds()) >= {"session", "event"} and estimator.event_threshold_ > 0
    folder = estimator.save_pretrained(tmp_path / "m", training_data={"source": "synthetic"})
    fitted = json.loads((folder / "fitted.json").read_text())
    assert fitted["thresholds"] == estimator.thresholds()
    manifest = read_manifest(folder)
    assert manifest.kind == kind and manifest.thresholds == {}, "thresholds live in the folder, once"
    loaded = AnomalyEstimator.from_pretrained(folder)
    assert type(loaded) is type(estimator) and loaded.thresholds() == estimator.thresholds()
    assert np.array_equal(loaded.decision_function(sessions), scores)
    (folder / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(ModelIntegrityError):
        AnomalyEstimator.from_pretrained(folder)


def test_from_pretrained_of_a_subclass_refuses_another_kind(lstm: LstmSequenceDetector, tmp_path) -> None:
    folder = lstm.save_pretrained(tmp_path / "lstm")
    with pytest.raises(ValueError, match="not a VaeDetector"):
        VaeDetector.from_pretrained(folder)


def test_sequence_flags_wrong_order_and_truncation_but_not_normal(lstm: LstmSequenceDetector) -> None:
    assert not lstm.predict(normal_sessions(10, seed=1)).any()
    swapped, truncated = lstm.predict([["1", "3", "2", "2", "3", "4"], ["1", "2"]])
    assert swapped and truncated


def test_sequence_kfold_calibration_keeps_the_fold_models_as_an_ensemble(lstm: LstmSequenceDetector) -> None:
    assert lstm.metrics_["calibration"] == "3-fold" and lstm.metrics_["train_sessions"] == 60
    assert lstm.metrics_["calibration_sessions"] == 60  # every session scored once by a model that never saw it
    assert len(lstm.members_) == 3 and lstm.event_threshold_ == lstm.threshold_ > 0
    contexts, targets = lstm._rows([["1", "2", "3", "4"]], with_end=True)
    full, members = lstm.network_, lstm.members_
    ensemble_p = np.exp(-lstm.score_rows(contexts, targets).nll)
    single_p = []
    try:
        for network in [full, *members]:
            lstm.network_, lstm.members_ = network, []
            single_p.append(np.exp(-lstm.score_rows(contexts, targets).nll))
    finally:
        lstm.network_, lstm.members_ = full, members
    assert np.allclose(ensemble_p, np.mean(single_p, axis=0), atol=1e-5)


def test_held_out_slice_calibration_without_folds() -> None:
    sliced = LstmSequenceDetector(window=4, hidden=8, embed_dim=4, epochs=2, calibration_folds=0).fit(normal_sessions())
    assert sliced.metrics_["calibration"] == "held-out slice" and sliced.metrics_["train_sessions"] == 54


def test_time_budget_stops_epochs_early() -> None:
    spent = LstmSequenceDetector(window=4, hidden=8, epochs=50, calibration_folds=2, time_budget_seconds=1e-6)
    spent.fit(normal_sessions(20))
    assert spent.metrics_["final_epochs"] == 1, "at least one epoch, then the budget is spent"
    assert spent.metrics_["trainings_cut_by_time_budget"] == 3  # both folds and the final model
    assert spent.threshold_ > 0, "calibration still ran"


def test_lstm_autoencoder_flags_a_broken_flow_and_calibrates_out_of_fold(lstm_ae: LstmAutoencoderDetector) -> None:
    assert lstm_ae.predict(normal_sessions(10, seed=1)).sum() <= 1
    assert lstm_ae.predict([["1", "4", "4", "4", "1"]])[0]
    assert lstm_ae.metrics_["calibration"] == "3-fold" and lstm_ae.metrics_["calibration_sessions"] == 60


def test_vae_flags_truncation_and_scores_running_sessions_with_a_prefix_model(tmp_path) -> None:
    sessions = normal_sessions(80)
    vae = VaeDetector(hidden=16, epochs=100, prefix_epochs=30, calibration_folds=3).fit(sessions)
    assert vae.predict([["1", "2"]])[0]
    folder = vae.save_pretrained(tmp_path / "vae")
    assert (folder / "prefix.safetensors").is_file() and vae.event_threshold_ != vae.threshold_
    stage = AnomalyStage(AnomalyEstimator.from_pretrained(folder), "v1")
    running = [e for i, s in enumerate(normal_sessions(10, seed=5)) for e in events(f"n{i}", s)]
    assert sum(v.is_anomaly for v in stage.score(running)) <= 2  # normal sessions in progress look normal
    assert any(v.is_anomaly for v in stage.score(events("bad", ["4", "4", "4", "4", "4"])))


def _legacy_folder(estimator: AnomalyEstimator, folder, config: dict) -> None:
    """A model folder as the previous release wrote it: fitted values in config.json, thresholds in the manifest."""
    from safetensors.torch import save_file

    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    for name, network in estimator._networks().items():
        save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(folder / f"{name}.safetensors"))
    write_manifest(folder, kind=estimator.kind, thresholds=estimator.thresholds())


def test_previous_release_folders_still_load(lstm: LstmSequenceDetector, tmp_path) -> None:
    sessions = [*normal_sessions(4, seed=6), ["1", "3"]]
    old_sequence = {"arch": "lstm", **lstm.config.model_dump(exclude={"time_budget_seconds", "min_batches"}),
                    "min_steps": 400, "vocab": lstm.known_templates, "members": len(lstm.members_)}
    _legacy_folder(lstm, tmp_path / "seq", old_sequence)
    assert np.array_equal(AnomalyEstimator.from_pretrained(tmp_path / "seq").decision_function(sessions),
                          lstm.decision_function(sessions))
    vae = VaeDetector(hidden=8, epochs=3, calibration_folds=2).fit(normal_sessions(20))
    old_vae = {"arch": "vae", "vae_latent": vae.config.latent, "latent": 32, "hidden": 8, "window": 10,
               "vocab": vae.known_templates, "feature_mean": [0.0] * 4, "feature_std": [1.0] * 4,
               "input_mean": vae.input_mean_.tolist(), "input_std": vae.input_std_.tolist(),
               "prefix_mean": vae.prefix_mean_.tolist(), "prefix_std": vae.prefix_std_.tolist()}
    _legacy_folder(vae, tmp_path / "vae", old_vae)
    loaded = AnomalyEstimator.from_pretrained(tmp_path / "vae")
    assert np.allclose(loaded.decision_function(sessions), vae.decision_function(sessions))
    assert loaded.event_threshold_ == vae.event_threshold_


# -- the stage ----------------------------------------------------------------------------------------
def test_stage_reasons_state_and_bounded_memory(lstm: LstmSequenceDetector) -> None:
    stage = AnomalyStage(lstm, "v1", max_sessions=2)
    assert stage.known_templates == ["1", "2", "3", "4"]
    first = stage.score(events("a", ["1", "2", "3"]) + events("b", ["1", "3"]))
    assert [v.is_anomaly for v in first] == [False, False, False, False, True]
    assert "unexpected after 1" in first[-1].reasons[0]
    # Restart: a fresh stage loaded from JSON continues session "a" where it stopped.
    restored = AnomalyStage(lstm, "v1", max_sessions=2)
    restored.load_state(json.loads(json.dumps(stage.to_state())))
    assert not restored.score(events("a", ["2"]))[0].is_anomaly
    fresh = AnomalyStage(lstm, "v1")
    assert fresh.score(events("a", ["2"]))[0].is_anomaly  # "2" cannot start a session
    stage.score(events("c", ["1"]) + events("d", ["1"]))
    assert len(stage.sessions) == 2 and "a" not in stage.sessions
    assert stage.score(events("e", ["77"]))[0].reasons == ["unseen template 77"]


def test_stage_sums_surprise_over_a_session(lstm: LstmSequenceDetector) -> None:
    stage = AnomalyStage(lstm, "v1")
    verdicts = stage.score(events("s", ["1", "3", "3", "3"]))
    flagged = [v for v in verdicts if v.is_anomaly]
    assert flagged and "session surprise" in flagged[0].reasons[0]
    score = stage.sessions["s"].score  # the running surprise of the whole session so far
    assert score > lstm.event_threshold_ and score >= max(v.score for v in verdicts)


def host_stream(n: int, seed: int) -> list[str]:
    """A host's endless log: short flows back to back, each with one of ten equally likely middles.

    The model cannot predict which middle comes (p ~ 1/10), so every flow adds a little surprise."""
    rng = random.Random(seed)
    stream: list[str] = []
    while len(stream) < n:
        stream += ["1", f"a{rng.randrange(10)}", "4"]
    return stream[:n]


def test_endless_host_session_does_not_flag_more_the_longer_it_runs() -> None:
    """Issue #13: the running surprise of a session without an end only grew, so flags got denser."""
    window = 30
    stream = host_stream(6000, seed=1)
    training = [stream[i : i + window] for i in range(0, len(stream), window)]  # cut as `enricher train` cuts
    model = LstmSequenceDetector(window=4, hidden=16, embed_dim=8, layers=1, epochs=10, calibration_folds=2)
    model.fit(training)
    live = host_stream(1500, seed=2)

    def flags(stage: AnomalyStage) -> np.ndarray:
        return np.array([v.is_anomaly for v in stage.score(events("host-a", live))])

    windowed = flags(AnomalyStage(model, "v1", max_events=window))
    endless = flags(AnomalyStage(model, "v1", max_events=None, max_gap=None))
    first, last = slice(0, window), slice(len(live) - window, len(live))
    assert windowed[last].mean() <= windowed[first].mean() + 0.05
    assert windowed.mean() < 0.05, "a stream like the training data is hardly flagged"
    # Without the window (the old behaviour) the same stream is flagged more and more.
    assert endless[last].mean() > endless[first].mean() + 0.2


def test_session_restarts_after_a_time_gap(lstm: LstmSequenceDetector) -> None:
    stage = AnomalyStage(lstm, "v1", max_gap=timedelta(minutes=30), max_events=None)
    stage.score(events("a", ["1", "2", "3"], start=0.0))
    # "2" cannot start a session: after 31 minutes of silence session "a" starts over, so it is flagged.
    assert not stage.score(events("a", ["2"], start=60.0))[0].is_anomaly
    assert stage.score(events("a", ["2"], start=60.0 + 31 * 60))[0].is_anomaly
    assert stage.sessions["a"].events == 1


def test_saved_state_is_bounded_and_compact(lstm: LstmSequenceDetector) -> None:
    stage = AnomalyStage(lstm, "v1", max_sessions=500, max_saved_sessions=100)
    stage.score([e for i in range(500) for e in events(f"session-{i}", ["1", "2", "3"], start=float(i))])
    state = stage.to_state()
    assert len(state["sessions"]) == 100 and state["sessions"][-1][0] == "session-499"  # the most recent
    assert state["templates"] == ["<bos>", "1", "2", "3"] and len(json.dumps(state)) < 60 * 100
    restored = AnomalyStage(lstm, "v1")
    restored.load_state(json.loads(json.dumps(state)))
    assert len(restored.sessions) == 100 and restored.sessions["session-499"].memory == ["<bos>", "1", "2", "3"]
    assert restored.sessions["session-499"].last_seen == 501.0  # its third event's time
    restored.load_state({"stage": "sequence", "version": 1, "sessions": [["x", ["1"], 0.0]]})  # older format
    assert "x" not in restored.sessions


def test_autoencoder_stages_keep_their_memory_across_a_restart(lstm_ae: LstmAutoencoderDetector, tmp_path) -> None:
    stage = AnomalyStage(AnomalyEstimator.from_pretrained(lstm_ae.save_pretrained(tmp_path / "ae")), "v2")
    verdicts = stage.score([AnomalyEvent("s", t, "x <*>", f"x {t}") for t in ["1", "2", "3"]])
    assert len(verdicts) == 3 and verdicts[0].model_version == "v2" and verdicts[0].threshold == lstm_ae.event_threshold_
    again = AnomalyStage(stage.estimator, "v2")
    again.load_state(json.loads(json.dumps(stage.to_state())))
    assert again.sessions["s"].memory == [(k, [round(x, 4) for x in f]) for k, f in stage.sessions["s"].memory]
    vae = VaeDetector(**TINY).fit(normal_sessions(20))
    vae_stage = AnomalyStage(vae, "v1")
    vae_stage.score([AnomalyEvent("s", "1", "a", "a"), AnomalyEvent("s", "2", "b", "b")])
    restored = AnomalyStage(vae, "v1")
    restored.load_state(json.loads(json.dumps(vae_stage.to_state())))
    assert restored.sessions["s"].memory == {"1": 1, "2": 1}


# -- the rest -----------------------------------------------------------------------------------------
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


def test_training_sessions_are_cut_like_the_service_cuts_them() -> None:
    from enricher.orchestration.training import TrainingSessions

    from enricher.anomaly.window import SessionWindow

    sessions = TrainingSessions(SessionWindow(timedelta(seconds=60), 3))
    for i, t in enumerate([0, 1, 2, 3, 4, 500]):  # 3 events, 2 more, then a gap
        sessions.add("host", str(i), f"line {i}", float(t))
    sessions.add("other", "x", "line x", None)
    ids, texts = sessions.as_lists()
    assert sorted(ids) == [["0", "1", "2"], ["3", "4"], ["5"], ["x"]] and sessions.documents == 7
    assert sorted(texts)[0] == ["line 0", "line 1", "line 2"]


def test_loading_builds_a_stage_per_promoted_kind_with_the_session_window(tmp_path) -> None:
    from enricher.config import Settings
    from enricher.orchestration.loading import load_anomaly_scorers
    from enricher.registry import ModelRegistry

    registry = ModelRegistry(tmp_path / "registry")
    vae = VaeDetector(**TINY).fit(normal_sessions(20))
    registry.promote("autoencoder-vae", vae.save_pretrained(registry.new_version_dir("autoencoder-vae")).name)
    settings = Settings(
        models={"registry": str(tmp_path / "registry"), "sequence_kinds": ["sequence-lstm"],
                "autoencoder_kinds": ["autoencoder-vae"]},
        source={"session": {"max_gap": "PT10M", "max_events": 50}},
    )
    [scorer] = load_anomaly_scorers(settings, registry)  # no promoted sequence-lstm: skipped
    assert (scorer.kind, scorer.family, scorer.version) == ("autoencoder-vae", "autoencoder", "v1")
    assert isinstance(scorer.stage, AnomalyStage) and scorer.stage.known_templates == vae.known_templates
    assert scorer.stage.window.max_events == 50 and scorer.stage.window.max_gap == timedelta(minutes=10)


@pytest.mark.parametrize("window", [1, 3])
def test_lstm_autoencoder_scores_running_sessions_as_it_scores_whole_ones(window: int) -> None:
    ae = LstmAutoencoderDetector(window=window, **TINY).fit(normal_sessions(20))
    session = ["1", "2", "3", "2", "4"]
    verdicts = AnomalyStage(ae, "v1").score(events("s", session))
    offline = ae.window_errors(*ae.windows(session, [f"op {t} done" for t in session]))
    assert [v.score for v in verdicts] == pytest.approx(offline[: len(session)].tolist(), rel=1e-5)
