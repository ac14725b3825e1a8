"""The pipeline's composition of stages, with fake models (the real ones have their own tests)."""

from __future__ import annotations

from enricher.pipeline import AnomalyScorer, EnrichmentPipeline, LogInput, combine_verdicts
from enricher.records import AnomalyVerdict, Classification
from enricher.templates import MinerConfig, TemplateMiner


class CountingClassifier:
    model_version = "v3"

    def __init__(self):
        self.calls = []

    def classify(self, texts, cache_keys=None):
        self.calls.append(list(texts))
        return [Classification("ERROR" if "failed" in t else "INFO", 0.9) for t in texts]


class FlagSessions:
    """Flags every event of session 'bad'; remembers how many events it saw."""

    known_templates: list[str] = []

    def __init__(self):
        self.seen = 0

    def score(self, events):
        self.seen += len(events)
        return [AnomalyVerdict(score=5.0 if e.session_key == "bad" else 0.5, threshold=1.0,
                               is_anomaly=e.session_key == "bad", model_version="v1",
                               reasons=["odd"] if e.session_key == "bad" else []) for e in events]

    def to_state(self):
        return {"seen": self.seen}

    def load_state(self, state):
        self.seen = state["seen"]


def pipeline(**kwargs):
    return EnrichmentPipeline(miner=TemplateMiner(MinerConfig()), pipeline_version="7", **kwargs)


def test_bad_messages_are_marked_and_the_rest_enriched():
    inputs = [LogInput(None, "s"), LogInput(42, "s"), LogInput("   ", "s"), LogInput("é" * 40, "s"),
              LogInput("Job 17 failed on node-3", "s")]
    results = pipeline(max_message_bytes=50).enrich(inputs)
    assert [r["status"] for r in results] == ["error", "error", "error", "error", "ok"]
    assert results[0]["error"].startswith("no message")
    assert results[1]["error"] == "message is a int, not a string"
    assert results[2]["error"] == "message is empty"
    assert "80 bytes" in results[3]["error"], "the limit counts UTF-8 bytes, not characters"
    assert results[4]["template"]["text"] and results[4]["pipeline_version"] == "7"
    assert all("template" not in r for r in results[:4])


def test_classifier_gets_template_texts_with_template_ids_as_cache_keys():
    classifier = CountingClassifier()
    p = pipeline(classifier=classifier, classifier_version="v3")
    results = p.enrich([LogInput("Job 17 failed on node-3", "s"), LogInput("Job 18 failed on node-4", "s")])
    assert results[1]["classification"] == {"label": "ERROR", "confidence": 0.9, "model": "classifier:v3"}
    assert "classifier:v3" in results[0]["model_versions"]
    assert all("<*>" in text for text in classifier.calls[0][1:])


def test_anomaly_verdicts_are_combined_and_state_round_trips():
    stage = FlagSessions()
    scorer = AnomalyScorer(kind="sequence-lstm", family="sequence", version="v1", stage=stage)
    p = pipeline(scorers=[scorer])
    results = p.enrich([LogInput("Login ok for alice", "good"), LogInput("Login ok for bob", "bad")])
    assert results[0]["anomaly"]["is_anomaly"] is False
    bad = results[1]["anomaly"]
    assert bad["is_anomaly"] is True and bad["score"] == 5.0
    assert bad["sequence"]["model"] == "sequence-lstm:v1" and bad["reasons"] == ["sequence-lstm: odd"]

    saved = p.to_state()
    fresh = FlagSessions()
    restored = pipeline(scorers=[AnomalyScorer("sequence-lstm", "sequence", "v1", fresh)])
    restored.load_scorer_states(saved["scorers"])
    assert fresh.seen == 2
    other_version = FlagSessions()
    pipeline(scorers=[AnomalyScorer("sequence-lstm", "sequence", "v2", other_version)]).load_scorer_states(saved["scorers"])
    assert other_version.seen == 0, "state of another model version is not applied"


def test_novel_is_set_once_and_asks_the_store():
    asked = []

    def store(templates):
        asked.append(dict(templates))
        return set()  # another worker recorded it first

    p = pipeline()
    first = p.enrich([LogInput("Disk sda1 is full", "s")], novel_templates=store)
    assert asked and first[0]["template"]["novel"] is False
    again = pipeline().enrich([LogInput("Disk sda1 is full", "s"), LogInput("Disk sda1 is full", "s")])
    assert [r["template"]["novel"] for r in again] == [True, False]


def test_combine_takes_the_most_alarmed_model_per_family():
    seq = AnomalyScorer("sequence-lstm", "sequence", "v1", None)
    ae = AnomalyScorer("autoencoder-vae", "autoencoder", "v2", None)
    combined = combine_verdicts([
        (seq, AnomalyVerdict(0.2, 0.4, False, "v1")),
        (ae, AnomalyVerdict(30.0, 10.0, True, "v2", [])),
    ])
    assert combined["score"] == 3.0 and combined["is_anomaly"] is True
    assert combined["sequence"]["is_anomaly"] is False
    assert combined["reasons"] == ["autoencoder-vae: score 30 above threshold 10"]
