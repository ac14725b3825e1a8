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


@dataclass(slots=True)
class AnomalyVerdict:
    score: float  # higher is more anomalous
    threshold: float  # score above which the event is anomalous
    is_anomaly: bool
    model_version: str
    reasons: list[str] = field(default_factory=list)  # human-readable, for Dashboards
