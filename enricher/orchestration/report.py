"""The report of one enrichment pass, fed by the writer's per-document outcomes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from enricher.cluster.writer import DocumentOutcome, Fate

MAX_EXAMPLES = 10


@dataclass
class PassReport:
    documents: int = 0  # documents this pass handled (whatever came of them)
    enriched: int = 0  # written with status ok
    errors: int = 0  # written with status error and a reason
    write_failures: int = 0  # not written; still pending, retried by a later pass
    conflicts: int = 0  # version conflicts met (re-read and resolved)
    already_enriched: int = 0  # enriched by another worker first
    gone: int = 0  # deleted while the pass ran
    novel_templates: int = 0
    anomalies: int = 0
    batches: int = 0
    sweeps: int = 0
    catchup: bool = False  # this pass swept the whole lookback window
    seconds: float = 0.0
    pending_after: int | None = None  # documents still pending when the pass ended
    error_reasons: dict[str, int] = field(default_factory=dict)
    failure_reasons: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    excluded_indices: dict[str, str] = field(default_factory=dict)
    anomaly_examples: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False

    def add(self, outcome: DocumentOutcome) -> None:
        self.documents += 1
        self.conflicts += outcome.conflicts
        if outcome.fate is Fate.WRITTEN:
            self._add_written(outcome)
        elif outcome.fate is Fate.DONE_ELSEWHERE:
            self.already_enriched += 1
        elif outcome.fate is Fate.GONE:
            self.gone += 1
        else:
            self.write_failures += 1
            _bump(self.failure_reasons, _reason_kind(outcome.reason))

    def _add_written(self, outcome: DocumentOutcome) -> None:
        enrichment = outcome.enrichment
        if not enrichment.ok:
            self.errors += 1
            _bump(self.error_reasons, _reason_kind(enrichment.error or ""))
            return
        self.enriched += 1
        if enrichment.template is not None and enrichment.template.novel:
            self.novel_templates += 1
        if enrichment.classification is not None:
            _bump(self.labels, enrichment.classification.label)
        anomaly = enrichment.anomaly
        if anomaly is not None and anomaly.is_anomaly:
            self.anomalies += 1
            if len(self.anomaly_examples) < MAX_EXAMPLES and enrichment.template is not None:
                self.anomaly_examples.append({
                    "index": outcome.doc.index, "id": outcome.doc.doc_id, "session": enrichment.session,
                    "template": enrichment.template.text, "reasons": anomaly.reasons[:3],
                })

    def totals(self) -> dict[str, int]:
        return {"enriched": self.enriched, "errors": self.errors, "write_failures": self.write_failures}

    def as_dict(self, *, examples: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not examples:
            data.pop("anomaly_examples")
        return data


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _reason_kind(reason: str) -> str:
    """A low-cardinality kind of a reason, for counting: the text before the first colon."""
    return reason.split(":")[0][:100] or "unknown"

