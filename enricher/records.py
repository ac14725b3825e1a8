"""Plain data passed between pipeline stages.

Stages take and return these records (lists of them, one per log event, in order), so the service, the
CLI and offline evaluation can run the same stages on documents from OpenSearch or lines from a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class LogInput:
    """What the pipeline needs of one document (the source builds it; a file reader can too)."""

    message: Any  # validated by the pipeline: documents hold anything
    session_key: str
    timestamp: float | None = None  # seconds since the epoch, when known
    ref: tuple[str, str] | None = None  # (index, id) of the document, when it comes from OpenSearch
    level: str | None = None  # the severity the document itself states (log.level, level...), if any
    partition: str = ""  # the log source it comes from (its own template miner); "" = the shared one


@dataclass(slots=True)
class TemplateMatch:
    """What the template miner says of one message."""

    template_id: str  # derived from the template text: stable across restarts and processes
    template: str  # variables as <*>
    params: list[str]  # the values the <*> stand for, in order
    is_new: bool  # the miner had no template for this message before it


@dataclass(slots=True)
class Classification:
    label: str
    confidence: float


@dataclass(slots=True)
class AnomalyEvent:
    """One log event as the anomaly scorers see it, in time order within its session."""

    session_key: str
    template_id: str
    template: str
    message: str
    timestamp: float | None = None  # seconds since the epoch, when known


# The score a model gives an event of a template it never saw (or a session holding one): not a
# measurement but a sentinel. The pipeline reports such events as ``novel_template`` instead.
UNSEEN_SCORE = 1e6


@dataclass(slots=True)
class AnomalyVerdict:
    score: float  # higher is more anomalous
    threshold: float  # score above which the event is anomalous
    is_anomaly: bool
    model_version: str
    reasons: list[str] = field(default_factory=list)  # human-readable, for Dashboards
    code: str = ""  # a low-cardinality reason code (the family's default when empty)


# -- what the enricher writes on a document (under its namespace) ---------------------------------------

OK = "ok"
ERROR = "error"


@dataclass(slots=True)
class TemplateFields:
    id: str
    text: str
    params: list[str]
    novel: bool = False


@dataclass(slots=True)
class ClassificationFields:
    label: str
    confidence: float
    model: str  # e.g. "classifier:v2", or "document" when the document states its level
    source: str = "model"  # "document": the level the document states; "model": the classifier's answer


@dataclass(slots=True)
class ModelVerdictFields:
    """One anomaly model's verdict on an event, as written (the most alarmed model of its family)."""

    score: float
    threshold: float
    is_anomaly: bool
    model: str  # e.g. "sequence-lstm:v1"


@dataclass(slots=True)
class AnomalyFields:
    # Bounded and comparable across models: the largest score/threshold ratio r, as r below 1 and
    # 2 - 1/r above (1.0 = at the threshold, 1.5 = twice it, 1.9 = ten times; never 2).
    score: float = 0.0
    is_anomaly: bool = False
    kind: list[str] = field(default_factory=list)  # the model families that flag the event
    reason_code: list[str] = field(default_factory=list)  # low-cardinality codes, one per flagging model
    reasons: list[str] = field(default_factory=list)  # human-readable, with the numbers
    sequence: ModelVerdictFields | None = None
    autoencoder: ModelVerdictFields | None = None

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"score": self.score, "is_anomaly": self.is_anomaly, "kind": self.kind,
                               "reason_code": self.reason_code, "reasons": self.reasons}
        for family in ("sequence", "autoencoder"):
            verdict = getattr(self, family)
            if verdict is not None:
                doc[family] = {"score": verdict.score, "threshold": verdict.threshold,
                               "is_anomaly": verdict.is_anomaly, "model": verdict.model}
        return doc


@dataclass(slots=True)
class Enrichment:
    """The enrichment of one document: what the pipeline computes and the sink writes."""

    status: str  # OK, or ERROR with ``error`` saying why
    pipeline_version: str
    enriched_at: str  # ISO 8601
    model_versions: list[str]
    error: str | None = None
    missing_models: list[str] = field(default_factory=list)  # configured kinds that were not loaded
    template: TemplateFields | None = None
    session: str | None = None
    classification: ClassificationFields | None = None
    anomaly: AnomalyFields | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def failed(self, reason: str) -> None:
        """Mark this enrichment as an error with its reason."""
        self.status, self.error = ERROR, reason

    def error_marker(self, reason: str) -> Enrichment:
        """A minimal error enrichment (no template, no scores: nothing that could clash with a mapping)."""
        return Enrichment(ERROR, self.pipeline_version, self.enriched_at, self.model_versions, error=reason)

    def to_document(self) -> dict[str, Any]:
        """The namespace's content as written to OpenSearch (absent parts left out)."""
        doc: dict[str, Any] = {"status": self.status, "pipeline_version": self.pipeline_version,
                               "enriched_at": self.enriched_at, "model_versions": self.model_versions}
        if self.error is not None:
            doc["error"] = self.error
        # Always written, empty when nothing was missing: a partial update keeps the keys it does not send,
        # so a document enriched again once its model is loaded must have its old list replaced.
        doc["missing_models"] = self.missing_models
        if self.template is not None:
            t = self.template
            doc["template"] = {"id": t.id, "text": t.text, "params": t.params, "novel": t.novel}
        if self.session is not None:
            doc["session"] = self.session
        if self.classification is not None:
            c = self.classification
            doc["classification"] = {"label": c.label, "confidence": c.confidence, "model": c.model,
                                     "source": c.source}
        if self.anomaly is not None:
            doc["anomaly"] = self.anomaly.to_document()
        return doc
