"""The conflict-aware writer: one final outcome per document, against a scripted sink."""

from __future__ import annotations

from enricher.records import Enrichment, TemplateFields
from enricher.cluster.sink import Outcome, WriteResult
from enricher.cluster.source import SourceDocument
from enricher.cluster.writer import ConflictAwareWriter, Fate


class ScriptedSink:
    """Answers each write with the scripted outcome per doc id (default WRITTEN); records what was sent."""

    def __init__(self, *rounds):
        self.rounds = list(rounds)
        self.sent = []

    def write(self, updates):
        self.sent.append([(u.doc_id, u.seq_no, dict(u.fields)) for u in updates])
        script = self.rounds.pop(0) if self.rounds else {}
        for update in updates:
            outcome, reason = script.get(update.doc_id, (Outcome.WRITTEN, ""))
            yield WriteResult(update, outcome, reason)


def doc(doc_id, message="m", seq_no=1, enrichment=None):
    source = {"message": message}
    if enrichment is not None:
        source["enrichment"] = enrichment
    return SourceDocument("logs", doc_id, seq_no, 1, source, sort=[0, 0])


def writer(sink, current=(), enrich=None):
    by_id = {d.doc_id: d for d in current}
    return ConflictAwareWriter(
        sink, reread=lambda refs: [by_id[i] for _, i in refs if i in by_id],
        enrich=enrich or (lambda docs: [Enrichment("ok", "1", "t2", ["again"]) for _ in docs]),
        namespace="enrichment", pipeline_version="1", max_conflict_retries=2)


FIELDS = Enrichment("ok", "1", "t1", ["templates:x"], template=TemplateFields("x", "t <*>", ["1"]))


def fates(outcomes):
    return {o.doc.doc_id: o.fate for o in outcomes}


def test_an_applied_write_reported_as_failed_counts_as_written_not_as_someone_elses():
    # The 429'd update was applied: the retry meets a conflict, and the re-read shows our own enriched_at.
    sink = ScriptedSink({"a": (Outcome.CONFLICT, "")})
    applied = doc("a", seq_no=2, enrichment={"pipeline_version": "1", "enriched_at": "t1"})
    (outcome,) = writer(sink, current=[applied]).write([doc("a")], [FIELDS])
    assert outcome.fate is Fate.WRITTEN and outcome.conflicts == 1
    assert len(sink.sent) == 1, "nothing is sent again"


def test_a_document_enriched_by_another_worker_is_left_alone():
    sink = ScriptedSink({"a": (Outcome.CONFLICT, "")})
    other = doc("a", seq_no=2, enrichment={"pipeline_version": "1", "enriched_at": "t0"})
    assert fates(writer(sink, current=[other]).write([doc("a")], [FIELDS])) == {"a": Fate.DONE_ELSEWHERE}


def test_unchanged_input_is_resent_with_the_new_version_and_a_changed_one_enriched_anew():
    sink = ScriptedSink({"a": (Outcome.CONFLICT, ""), "b": (Outcome.CONFLICT, "")})
    touched = doc("a", seq_no=5)  # someone wrote another field we did not read: same input
    changed = doc("b", message="edited", seq_no=6)
    outcomes = list(writer(sink, current=[touched, changed]).write([doc("a"), doc("b")], [FIELDS, FIELDS]))
    assert fates(outcomes) == {"a": Fate.WRITTEN, "b": Fate.WRITTEN}
    resent = {doc_id: (seq_no, fields) for doc_id, seq_no, fields in sink.sent[1]}
    assert resent["a"] == (5, FIELDS.to_document())
    assert resent["b"][0] == 6 and resent["b"][1]["model_versions"] == ["again"]


def test_a_refused_enrichment_is_replaced_by_an_error_marker_with_the_reason():
    sink = ScriptedSink({"a": (Outcome.REJECTED, "mapper_parsing_exception: failed to parse [enrichment.template]")})
    (outcome,) = writer(sink).write([doc("a")], [FIELDS])
    assert outcome.fate is Fate.WRITTEN
    marker = sink.sent[1][0][2]
    assert marker["status"] == "error" and marker["pipeline_version"] == "1"
    assert "mapper_parsing_exception" in marker["error"] and "template" not in marker


def test_pending_gone_and_recurring_conflicts_are_reported_not_dropped():
    sink = ScriptedSink({"a": (Outcome.PENDING, "cluster_block_exception: blocked"), "b": (Outcome.GONE, ""),
                         "c": (Outcome.CONFLICT, "")}, {"c": (Outcome.CONFLICT, "")}, {"c": (Outcome.CONFLICT, "")})
    outcomes = list(writer(sink, current=[doc("c", seq_no=9)]).write(
        [doc("a"), doc("b"), doc("c")], [FIELDS, FIELDS, FIELDS]))
    assert fates(outcomes) == {"a": Fate.PENDING, "b": Fate.GONE, "c": Fate.PENDING}
    assert len(outcomes) == 3
