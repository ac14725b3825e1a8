"""The conflict-aware writer: one final outcome per document, whatever happened on the way.

Around the sink's single write it handles what a version check and a busy cluster bring:

- **409 (someone wrote the document since it was read)**: re-read it. If it now carries this pipeline
  version, either our own earlier attempt was applied (the cluster reported a 429 or the connection
  dropped after applying it: same ``enriched_at``) and it counts as written, or another worker enriched
  it and it is left alone. If its input is unchanged, the same fields are sent with the new version;
  if someone changed it, it is enriched anew.
- **Refused for good** (e.g. a field that does not fit the index's mapping): a small error marker with
  the reason is written instead, so the document is not read again and again and Dashboards shows why.
- **Not written now** (pushback that outlasted the retries, a write-blocked index): left pending; the
  checkpoint waits for it and a later pass tries again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from enricher.records import Enrichment
from enricher.cluster.sink import BulkSink, DocumentUpdate, Outcome
from enricher.cluster.source import SourceDocument, get_field


class Fate(str, Enum):
    WRITTEN = "written"  # our fields are on the document (an ``ok`` enrichment or an ``error`` marker)
    DONE_ELSEWHERE = "done_elsewhere"  # another worker enriched it first
    PENDING = "pending"  # not written; a later pass retries
    GONE = "gone"  # deleted since it was read


@dataclass(slots=True)
class DocumentOutcome:
    doc: SourceDocument
    enrichment: Enrichment  # what was written (or would have been)
    fate: Fate
    reason: str = ""
    conflicts: int = 0  # version conflicts met on the way


Enrich = Callable[[list[SourceDocument]], list[Enrichment]]
Reread = Callable[[list[tuple[str, str]]], list[SourceDocument]]


class ConflictAwareWriter:
    def __init__(
        self, sink: BulkSink, reread: Reread, enrich: Enrich, *, namespace: str, pipeline_version: str,
        max_conflict_retries: int,
    ) -> None:
        self.sink = sink
        self.reread = reread
        self.enrich = enrich
        self.namespace = namespace
        self.pipeline_version = pipeline_version
        self.max_conflict_retries = max_conflict_retries

    def write(self, docs: list[SourceDocument], enrichments: list[Enrichment]) -> Iterator[DocumentOutcome]:
        """Write each document's enrichment; yield one outcome per document."""
        pending = {doc.ref: (doc, e) for doc, e in zip(docs, enrichments)}
        conflicts: dict[tuple[str, str], int] = {}
        for attempt in range(self.max_conflict_retries + 1):
            conflicted: list[tuple[SourceDocument, Enrichment]] = []
            rejected: list[tuple[SourceDocument, Enrichment, str]] = []
            for result in self.sink.write([_update(doc, f) for doc, f in pending.values()]):
                doc, f = pending[result.update.ref]
                if result.outcome is Outcome.CONFLICT:
                    conflicts[doc.ref] = conflicts.get(doc.ref, 0) + 1
                    conflicted.append((doc, f))
                elif result.outcome is Outcome.REJECTED:
                    rejected.append((doc, f, result.reason))
                else:
                    yield DocumentOutcome(doc, f, _FATES[result.outcome], result.reason, conflicts.get(doc.ref, 0))
            yield from self._mark_rejected(rejected)
            if not conflicted:
                return
            if attempt == self.max_conflict_retries:
                for doc, f in conflicted:
                    yield DocumentOutcome(doc, f, Fate.PENDING, "version conflicts kept recurring", conflicts[doc.ref])
                return
            settled, pending = self._after_conflicts(conflicted)
            for outcome in settled:
                outcome.conflicts = conflicts.get(outcome.doc.ref, 0)
                yield outcome
            if not pending:
                return

    def _after_conflicts(
        self, conflicted: list[tuple[SourceDocument, Enrichment]]
    ) -> tuple[list[DocumentOutcome], dict[tuple[str, str], tuple[SourceDocument, Enrichment]]]:
        """Re-read conflicted documents: what is settled now, and what to send again (with new versions)."""
        sent = {doc.ref: (doc, f) for doc, f in conflicted}
        current = {doc.ref: doc for doc in self.reread(list(sent))}
        settled: list[DocumentOutcome] = []
        again: dict[tuple[str, str], tuple[SourceDocument, Enrichment]] = {}
        changed: list[SourceDocument] = []
        for ref, (before, f) in sent.items():
            now = current.get(ref)
            if now is None:
                settled.append(DocumentOutcome(before, f, Fate.GONE, "deleted since it was read"))
            elif get_field(now.source, f"{self.namespace}.pipeline_version") == self.pipeline_version:
                ours = get_field(now.source, f"{self.namespace}.enriched_at") == f.enriched_at
                settled.append(DocumentOutcome(now, f, Fate.WRITTEN if ours else Fate.DONE_ELSEWHERE))
            elif self._input(now) == self._input(before):
                again[ref] = (now, f)
            else:
                changed.append(now)
        if changed:
            again.update({doc.ref: (doc, f) for doc, f in zip(changed, self.enrich(changed))})
        return settled, again

    def _input(self, doc: SourceDocument) -> dict[str, Any]:
        """The fields an enrichment is computed from: what was read, less our own namespace."""
        return {key: value for key, value in doc.source.items() if key != self.namespace}

    def _mark_rejected(self, rejected: list[tuple[SourceDocument, Enrichment, str]]) -> Iterator[DocumentOutcome]:
        """Write an error marker (no template, no scores: nothing that could clash) where the full
        enrichment was refused for good."""
        if not rejected:
            return
        markers = {doc.ref: (doc, f.error_marker(f"could not write the enrichment: {reason}"[:1000]))
                   for doc, f, reason in rejected}
        for result in self.sink.write([_update(doc, marker) for doc, marker in markers.values()]):
            doc, marker = markers[result.update.ref]
            if result.outcome is Outcome.WRITTEN:
                yield DocumentOutcome(doc, marker, Fate.WRITTEN, marker.error or "")
            elif result.outcome is Outcome.GONE:
                yield DocumentOutcome(doc, marker, Fate.GONE, result.reason)
            else:  # a conflict or refusal even for the marker: leave it to a later pass
                yield DocumentOutcome(doc, marker, Fate.PENDING, result.reason)


_FATES = {Outcome.WRITTEN: Fate.WRITTEN, Outcome.PENDING: Fate.PENDING, Outcome.GONE: Fate.GONE}


def _update(doc: SourceDocument, enrichment: Enrichment) -> DocumentUpdate:
    return DocumentUpdate(index=doc.index, doc_id=doc.doc_id, seq_no=doc.seq_no,
                          primary_term=doc.primary_term, fields=enrichment.to_document())
