"""The pipeline's composition of stages, with fake models (the real ones have their own tests)."""

from __future__ import annotations

from enricher.orchestration.pipeline import AnomalyScorer, EnrichmentPipeline, combine_verdicts
from enricher.records import UNSEEN_SCORE, AnomalyVerdict, Classification, LogInput
from enricher.config import TemplatesConfig
from enricher.templates import PartitionedMiner


class CountingClassifier:
    model_version = "v3"

    def __init__(self):
        self.calls = []

    def classify(self, texts, cache_keys=None):
        self.calls.append(list(texts))
        return [Classification("ERROR" if "failed" in t else "INFO", 0.9) for t in texts]


class FlagSessions:
    """Flags every event of session 'bad'; remembers how many events it saw. Knows the templates of
    ``known_messages`` (trained on them); on any other template it answers as models do: the sentinel."""

    def __init__(self, known_messages=("Login ok for alice",)):
        self.seen = 0
        miner = PartitionedMiner(TemplatesConfig())
        self.known_templates = [miner.add(message).template_id for message in known_messages]

    def score(self, events):
        self.seen += len(events)
        return [AnomalyVerdict(score=UNSEEN_SCORE, threshold=1.0, is_anomaly=True, model_version="v1",
                               reasons=["unseen template"]) if e.template_id not in self.known_templates else
                AnomalyVerdict(score=5.0 if e.session_key == "bad" else 0.5, threshold=1.0,
                               is_anomaly=e.session_key == "bad", model_version="v1",
                               reasons=["odd"] if e.session_key == "bad" else []) for e in events]

    def to_state(self):
        return {"seen": self.seen}

    def load_state(self, state):
        self.seen = state["seen"]


class WrittenForm(EnrichmentPipeline):
    """The pipeline, answering with the documents' written form (what OpenSearch receives)."""

    def enrich(self, inputs, judge_novelty=None):
        return [e.to_document() for e in super().enrich(inputs, judge_novelty)]


def pipeline(**kwargs):
    return WrittenForm(miner=PartitionedMiner(TemplatesConfig(**kwargs.pop("templates", {}))), pipeline_version="7",
                       **kwargs)


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
    assert results[1]["classification"] == {"label": "ERROR", "confidence": 0.9, "model": "classifier:v3",
                                            "source": "model"}
    assert "classifier:v3" in results[0]["model_versions"]
    assert all("<*>" in text for text in classifier.calls[0][1:])


def test_a_level_the_document_states_is_its_classification_and_the_model_is_not_asked():
    classifier = CountingClassifier()
    p = pipeline(classifier=classifier, classifier_version="v3")
    results = p.enrich([LogInput("Job 17 failed on node-3", "s", level="warn"),
                        LogInput("Job 18 failed on node-4", "s")])
    assert results[0]["classification"] == {"label": "WARNING", "confidence": 1.0, "model": "document",
                                             "source": "document"}
    assert results[1]["classification"]["source"] == "model" and results[1]["classification"]["label"] == "ERROR"
    assert sum(len(call) for call in classifier.calls) == 1


def test_a_template_the_models_never_saw_is_one_novel_template_signal_not_a_flood_from_every_model():
    scorers = [AnomalyScorer("sequence-lstm", "sequence", "v1", FlagSessions()),
               AnomalyScorer("autoencoder-vae", "autoencoder", "v1", FlagSessions())]
    p = pipeline(scorers=scorers, novel_template_flags=1)
    results = p.enrich([LogInput("Disk sda1 is full", "good"), LogInput("Disk sda1 is full", "good"),
                        LogInput("Login ok for alice", "good")])
    first, second, known = (r["anomaly"] for r in results)
    assert first["is_anomaly"] is True and first["kind"] == ["novel_template"] and first["score"] == 1.5
    assert "sequence" not in first and "autoencoder" not in first, "the models abstain"
    assert second["is_anomaly"] is False and second["kind"] == [], "after the grace the models abstain quietly"
    assert known["is_anomaly"] is False and known["sequence"]["score"] == 0.5


def test_anomaly_verdicts_are_combined_and_state_round_trips():
    stage = FlagSessions()
    scorer = AnomalyScorer(kind="sequence-lstm", family="sequence", version="v1", stage=stage)
    p = pipeline(scorers=[scorer])
    results = p.enrich([LogInput("Login ok for alice", "good"), LogInput("Login ok for alice", "bad")])
    assert results[0]["anomaly"]["is_anomaly"] is False
    bad = results[1]["anomaly"]
    assert bad["is_anomaly"] is True and bad["score"] == 1.8  # 5 x the threshold: 2 - 1/5
    assert bad["kind"] == ["sequence"] and bad["reason_code"] == ["unexpected_event"]
    assert results[0]["anomaly"]["score"] == 0.5 and results[0]["anomaly"]["kind"] == []
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

    def store(candidates, aliases):
        asked.append(dict(candidates))
        return set()  # another worker recorded it first

    p = pipeline()
    first = p.enrich([LogInput("Disk sda1 is full", "s")], judge_novelty=store)
    assert asked and first[0]["template"]["novel"] is False
    again = pipeline().enrich([LogInput("Disk sda1 is full", "s"), LogInput("Disk sda1 is full", "s")])
    assert [r["template"]["novel"] for r in again] == [True, False]


def test_the_judge_sees_each_template_once_with_its_first_position_and_marks_only_that_one():
    seen = []

    def judge(candidates, aliases):
        seen.append({tid: (c.position, c.new_to_miner) for tid, c in candidates.items()})
        return set(candidates)  # all novel: only the first position of each may carry the mark

    p = pipeline()
    p.enrich([LogInput("Disk sda1 is full", "s")])  # the miner knows this one now
    results = p.enrich([LogInput("Disk sda1 is full", "s"), LogInput("Fan 3 stopped", "s"),
                        LogInput("Fan 4 stopped", "s")], judge_novelty=judge)
    (candidates,) = seen
    assert sorted(candidates.values()) == [(0, False), (1, True)]
    assert [r["template"]["novel"] for r in results] == [True, True, False]


def test_a_missing_model_is_recorded_on_each_document():
    p = pipeline()
    p.missing_models = ["sequence-lstm"]
    (result,) = p.enrich([LogInput("Disk sda1 is full", "s")])
    assert result["missing_models"] == ["sequence-lstm"]
    assert pipeline().enrich([LogInput("Disk sda1 is full", "s")])[0]["missing_models"] == [], \
        "written empty, so a partial update replaces an earlier list"


def test_the_combined_score_is_bounded_and_keeps_the_order_of_ratios():
    from enricher.orchestration.pipeline import bounded_score

    ratios = [0.0, 0.5, 1.0, 1.5, 2.0, 10.0, 238_095.0]
    scores = [bounded_score(r) for r in ratios]
    assert scores == sorted(scores) and scores[2] == 1.0 and all(s < 2.0 for s in scores)


def test_combine_takes_the_most_alarmed_model_per_family():
    seq = AnomalyScorer("sequence-lstm", "sequence", "v1", None)
    ae = AnomalyScorer("autoencoder-vae", "autoencoder", "v2", None)
    combined = combine_verdicts([
        (seq, AnomalyVerdict(0.2, 0.4, False, "v1")),
        (ae, AnomalyVerdict(30.0, 10.0, True, "v2", [])),
    ]).to_document()
    assert combined["score"] == round(2 - 1 / 3, 6) and combined["is_anomaly"] is True
    assert combined["kind"] == ["autoencoder"] and combined["reason_code"] == ["unusual_session"]
    assert combined["sequence"]["is_anomaly"] is False
    assert combined["reasons"] == ["autoencoder-vae: score 30 above threshold 10"]


def test_sources_get_their_own_templates_up_to_the_partition_cap():
    p = pipeline(templates={"max_partitions": 2})
    lines = [f"Worker {i} started" for i in range(6)]
    results = p.enrich([LogInput(line, "s", partition=source) for line in lines for source in ("a", "b", "c")])
    ids = {source: {r["template"]["id"] for r in results[k::3]} for k, source in enumerate("abc")}
    assert len(ids["a"]) == len(ids["b"]) == 1 and ids["a"] != ids["b"], "one template per source, unmixed"
    assert p.miner.partitions() == ["a", "b"] or sorted(p.miner.partitions()) == ["", "a", "b"]
    shared = pipeline().enrich([LogInput(line, "s") for line in lines])
    assert ids["c"] == {shared[-1]["template"]["id"]}, "a source past the cap shares the unpartitioned miner"


SESSIONS = [f"session opened for user {user} by (uid=0)" for user in ("root", "root", "alice", "bob", "carol", "dave")]


def test_a_template_that_generalises_within_a_batch_gives_every_document_its_final_id():
    told = []

    def judge(candidates, aliases):
        told.append((set(candidates), dict(aliases)))
        return set(candidates)

    results = pipeline().enrich([LogInput(message, "s") for message in SESSIONS], judge_novelty=judge)
    templates = [r["template"] for r in results]
    assert {t["text"] for t in templates} == {"session opened for user <*> by (uid=<*>)"}
    assert len({t["id"] for t in templates}) == 1
    assert [t["params"][0] for t in templates] == ["root", "root", "alice", "bob", "carol", "dave"], \
        "values re-read against the final template"
    assert [t["novel"] for t in templates] == [True] + [False] * 5
    ((candidates, aliases),) = told
    (final,) = candidates
    assert aliases and set(aliases.values()) == {final} and final not in aliases, \
        "the judge hears which ids the batch's template replaced (to record them as its aliases)"
