"""Structured logs and Prometheus metrics for the service."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from enricher.cluster.writer import DocumentOutcome, Fate

# Attributes every LogRecord has; anything else passed through ``extra=`` is logged as a field.
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonFormatter() if fmt == "json" else text)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The client logs every request, and expected 404s as warnings; failures surface as exceptions.
    logging.getLogger("opensearch").setLevel(logging.ERROR)


class Metrics:
    """The service's metrics, in a registry of their own (no process-global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.documents = Counter("enricher_documents_total", "Documents written, by status", ["status"], registry=r)
        self.write_failures = Counter("enricher_write_failures_total", "Documents whose write failed in a pass (left pending, retried later)", registry=r)
        self.conflicts = Counter("enricher_version_conflicts_total", "Updates retried after a concurrent write", registry=r)
        self.retries = Counter("enricher_bulk_retries_total", "Bulk retries after 429/5xx", registry=r)
        self.novel_templates = Counter("enricher_novel_templates_total", "Templates seen for the first time", registry=r)
        self.rekeyed = Counter("enricher_rekeyed_documents_total", "Documents given the current id of a template that generalised or merged", registry=r)
        self.anomalies = Counter("enricher_anomalies_total", "Documents flagged anomalous", registry=r)
        self.pending = Gauge("enricher_pending_documents", "Documents pending at the end of the last pass", registry=r)
        self.lag = Gauge("enricher_lag_seconds", "Age of the checkpoint while documents are pending (0 when caught up)", registry=r)
        self.pass_seconds = Histogram("enricher_pass_seconds", "Duration of an enrichment pass", registry=r,
                                      buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600))

    def observe(self, outcome: DocumentOutcome) -> None:
        """Count one document's outcome of a write."""
        if outcome.conflicts:
            self.conflicts.inc(outcome.conflicts)
        if outcome.fate is Fate.PENDING:
            self.write_failures.inc()
            return
        if outcome.fate is not Fate.WRITTEN:
            return
        enrichment = outcome.enrichment
        self.documents.labels(status=enrichment.status).inc()
        if enrichment.template is not None and enrichment.template.novel:
            self.novel_templates.inc()
        if enrichment.anomaly is not None and enrichment.anomaly.is_anomaly:
            self.anomalies.inc()

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
