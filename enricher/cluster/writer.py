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

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass
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
ToWrite = dict[tuple[str, str], tuple[SourceDocument, Enrichment]]  # by document ref


@dataclass
class ConflictAwareWriter:
    sink: BulkSink
    reread: Reread
    enrich: Enrich
    _: KW_ONLY
    namespace: str
    pipeline_version: str
    max_conflict_retries: int

    def write(self, docs: list[SourceDocument], enrichments: list[Enrichment]) -> Iterator[DocumentOutcome]:
        """Write each document's enrichment; yield one outcome per document."""
        pending: ToWrite = {doc.ref: (doc, e) for doc, e in zip(docs, enrichments)}
        conflicts: Counter[tuple[str, str]] = Counter()
        for attempt in range(self.max_conflict_retries + 1):
            conflicted: ToWrite = {}
            rejected: list[tuple[SourceDocument, Enrichment, str]] = []
            for result in self.sink.write([_update(doc, f) for doc, f in pending.values()]):
                doc, f = pending[result.update.ref]
                if result.outcome is Outcome.CONFLICT:
                    conflicts[doc.ref] += 1
                    conflicted[doc.ref] = (doc, f)
                elif result.outcome is Outcome.REJECTED:
                    rejected.append((doc, f, result.reason))
                else:
                    yield DocumentOutcome(doc, f, _FATES[result.outcome], result.reason, conflicts[doc.ref])
            yield from self._mark_rejected(rejected)
            if not conflicted:
                return
            if attempt == self.max_conflict_retries:
                for doc, f in conflicted.values():
                    yield DocumentOutcome(doc, f, Fate.PENDING, "version conflicts kept recurring", conflicts[doc.ref])
                return
            settled, pending = self._after_conflicts(conflicted)
            for outcome in settled:
                outcome.conflicts = conflicts[outcome.doc.ref]
                yield outcome
            if not pending:
                return

    def _after_conflicts(self, conflicted: ToWrite) -> tuple[list[DocumentOutcome], ToWrite]:
        """Re-read conflicted documents: what is settled now, and what to send again (with new versions)."""
        current = {doc.ref: doc for doc in self.reread(list(conflicted))}
        settled: list[DocumentOutcome] = []
        again: ToWrite = {}
        changed: list[SourceDocument] = []
        for ref, (before, f) in conflicted.items():
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
            fate = _FATES.get(result.outcome, Fate.PENDING)  # a conflict or refusal even for the marker: a later pass
            yield DocumentOutcome(doc, marker, fate, (marker.error or "") if fate is Fate.WRITTEN else result.reason)


_FATES = {Outcome.WRITTEN: Fate.WRITTEN, Outcome.PENDING: Fate.PENDING, Outcome.GONE: Fate.GONE}


def _update(doc: SourceDocument, enrichment: Enrichment) -> DocumentUpdate:
    return DocumentUpdate(index=doc.index, doc_id=doc.doc_id, seq_no=doc.seq_no,
                          primary_term=doc.primary_term, fields=enrichment.to_document())
