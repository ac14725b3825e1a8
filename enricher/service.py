"""The enrichment service: source -> pipeline -> sink, in passes, on a schedule.

A pass reads every pending document (oldest first), enriches it in batches, writes each batch back, and
checkpoints. The query itself skips documents already enriched by this pipeline version, so a crash or
restart at any point neither skips a document nor applies an enrichment twice; the checkpoint only
narrows where the next pass looks.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from opensearchpy import OpenSearch

from enricher.config import Settings
from enricher.mappings import install_mappings, put_mapping_on_existing
from enricher.observability import Metrics
from enricher.loading import load_anomaly_scorers, resolve_or_skip
from enricher.pipeline import ERROR, EnrichmentPipeline, LogInput
from enricher.registry import ModelRegistry
from enricher.sink import BulkSink, DocumentUpdate
from enricher.source import DocumentSource, SessionKeys, SourceDocument, get_field
from enricher.state import Checkpoint, StateStore, source_state_id
from enricher.templates import TemplateMiner

log = logging.getLogger(__name__)

STATE_SAVE_INTERVAL_SECONDS = 10.0
MAX_SWEEPS_PER_PASS = 5


@dataclass
class BatchOutcome:
    """What writing one batch came to."""

    results: list[dict[str, Any]]  # the namespace fields computed for each document
    written: set[tuple[str, str]] = field(default_factory=set)
    done_elsewhere: set[tuple[str, str]] = field(default_factory=set)  # already enriched: left alone
    conflicts: int = 0
    write_failures: int = 0


@dataclass
class PassReport:
    documents: int = 0
    enriched: int = 0
    errors: int = 0
    write_failures: int = 0
    conflicts: int = 0
    already_enriched: int = 0
    novel_templates: int = 0
    anomalies: int = 0
    batches: int = 0
    seconds: float = 0.0
    error_reasons: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    anomaly_examples: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False


def build_pipeline(settings: Settings, saved_state: dict[str, Any] | None = None) -> EnrichmentPipeline:
    registry = ModelRegistry(settings.models.registry)
    if settings.models.torch_threads and (settings.models.classifier or settings.models.sequence_kinds
                                          or settings.models.autoencoder_kinds):
        import torch

        torch.set_num_threads(settings.models.torch_threads)  # process-wide: the service owns its process
    miner_state = (saved_state or {}).get("miner")
    miner = TemplateMiner.from_state(miner_state, settings.templates) if miner_state else TemplateMiner(settings.templates)
    pipeline = EnrichmentPipeline(
        miner=miner, pipeline_version=settings.pipeline_version,
        max_message_bytes=settings.source.max_message_bytes,
    )
    if settings.models.classifier:
        resolved = resolve_or_skip(registry, "classifier", settings)
        if resolved is not None:
            from enricher.classify import ClassifierStage, LogClassifier

            folder, manifest = resolved
            classifier = LogClassifier.from_pretrained(folder, inference_dtype=settings.models.classifier_precision)
            classifier.predict(["service started"])  # warm up (first-call allocations) before the first pass
            pipeline.classifier = ClassifierStage(classifier, model_version=manifest.version)
            pipeline.classifier_version = manifest.version
    pipeline.scorers = load_anomaly_scorers(settings, registry)
    pipeline.load_scorer_states((saved_state or {}).get("scorers", {}))
    return pipeline


class EnrichmentService:
    def __init__(
        self,
        settings: Settings,
        client: OpenSearch,
        *,
        metrics: Metrics | None = None,
        pipeline: EnrichmentPipeline | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.metrics = metrics or Metrics()
        self.state = StateStore(client, settings.state_index, settings.templates_index)
        self.state_id = source_state_id(settings.source.index_patterns, settings.pipeline_version)
        self.source = DocumentSource(
            client, settings.source, namespace=settings.sink.namespace, pipeline_version=settings.pipeline_version,
            extra_fields=(f"{settings.sink.namespace}.pipeline_version",),
        )
        self.sink = BulkSink(client, settings.sink)
        self._pipeline = pipeline
        self._session_keys = SessionKeys(settings.source.session)
        self._pipeline_lock = threading.Lock()
        self.checkpoint = Checkpoint()

    # -- start-up -------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Install mappings, load saved state and the models. Call once before passes."""
        install_mappings(self.client, self.settings)
        saved = self.state.load(self.state_id) or {}
        self.checkpoint = Checkpoint.model_validate(saved.get("checkpoint") or {})
        if self._pipeline is None:
            self._pipeline = build_pipeline(self.settings, saved.get("pipeline"))
        log.info("service ready", extra={"state_id": self.state_id, "models": self.pipeline.model_versions,
                                          "checkpoint": self.checkpoint.last_timestamp})

    @property
    def pipeline(self) -> EnrichmentPipeline:
        if self._pipeline is None:
            raise RuntimeError("call prepare() first")
        return self._pipeline

    # -- passes ---------------------------------------------------------------------------------
    def since(self, now: datetime | None = None) -> datetime | None:
        """Lower time bound of the next pass: the lookback window, narrowed by the checkpoint."""
        now = now or datetime.now(timezone.utc)
        bounds = []
        if self.settings.source.lookback is not None:
            bounds.append(now - self.settings.source.lookback)
        if self.checkpoint.last_timestamp is not None:
            bounds.append(self.checkpoint.last_timestamp - self.settings.source.late_arrival)
        return max(bounds) if bounds else None

    def run_pass(
        self,
        should_stop: Callable[[], bool] = lambda: False,
        progress: Callable[[int], None] | None = None,
    ) -> PassReport:
        started = time.monotonic()
        report = PassReport()
        put_mapping_on_existing(self.client, self.settings)  # indices created since the last pass
        since = self.since()
        self._last_save = time.monotonic()
        # A sweep pages through one point-in-time snapshot. Documents on different shards can tie on
        # (timestamp, _doc) at a page boundary and be passed over (see source.py); they are still pending,
        # so another sweep over the same window picks them up, along with documents that arrived meanwhile.
        for _ in range(MAX_SWEEPS_PER_PASS):
            swept = self._sweep(since, report, should_stop, progress)
            if swept == 0 or should_stop() or self._batch_limit_reached(report):
                break
        report.stopped_early = should_stop()
        report.seconds = time.monotonic() - started
        self.checkpoint.passes += 1
        self.checkpoint.documents_enriched += report.enriched
        self.checkpoint.documents_failed += report.errors + report.write_failures
        self.checkpoint.last_pass = {k: v for k, v in asdict(report).items() if k != "anomaly_examples"}
        self.save_state()
        self._observe_pass(report)
        return report

    def _sweep(
        self,
        since: datetime | None,
        report: PassReport,
        should_stop: Callable[[], bool],
        progress: Callable[[int], None] | None,
    ) -> int:
        """Page through pending documents once; return how many were read.

        Batches are pipelined: while one batch is written (OpenSearch's work), the next is read and
        enriched (ours), so the models' CPU time overlaps the cluster's. Writes stay in order, one at a
        time, and a batch counts (checkpoint, report) only once its write has finished.
        """
        # Make earlier writes searchable, so their documents are not read again as pending (if they
        # were, the version check would still prevent a second write).
        self.client.indices.refresh(index=self.source.index, params={"ignore_unavailable": "true",
                                                                     "allow_no_indices": "true"})
        swept = 0
        in_flight: tuple[list[SourceDocument], Future[BatchOutcome]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enricher-sink") as sink_thread:
            for batch in self.source.iter_batches(since, should_stop=should_stop):
                results = self._enrich(batch)
                if in_flight is not None:
                    self._finish_batch(*in_flight, report, progress)
                in_flight = (batch, sink_thread.submit(self._write_batch, batch, results))
                swept += len(batch)
                if self._batch_limit_reached(report, in_flight=1):
                    break
            if in_flight is not None:
                self._finish_batch(*in_flight, report, progress)
        return swept

    def _batch_limit_reached(self, report: PassReport, in_flight: int = 0) -> bool:
        limit = self.settings.schedule.max_batches_per_pass
        return limit is not None and report.batches + in_flight >= limit

    def process_batch(self, batch: list[SourceDocument], report: PassReport) -> None:
        """Enrich and write one batch, then count it (the unpipelined form of a sweep's step)."""
        outcome = self._write_batch(batch, self._enrich(batch))
        self._count_batch(batch, outcome, report)

    def _write_batch(self, batch: list[SourceDocument], results: list[dict[str, Any]]) -> "BatchOutcome":
        updates = [self._update(doc, fields) for doc, fields in zip(batch, results)]
        return self._write_with_conflict_retries(updates, results)

    def _finish_batch(
        self,
        batch: list[SourceDocument],
        written: Future["BatchOutcome"],
        report: PassReport,
        progress: Callable[[int], None] | None,
    ) -> None:
        self._count_batch(batch, written.result(), report)
        report.batches += 1
        if progress is not None:
            progress(len(batch))
        if time.monotonic() - self._last_save > STATE_SAVE_INTERVAL_SECONDS:
            self.save_state()
            self._last_save = time.monotonic()

    def _count_batch(self, batch: list[SourceDocument], outcome: "BatchOutcome", report: PassReport) -> None:
        for doc, fields in zip(batch, outcome.results):
            if (doc.index, doc.doc_id) in outcome.written:
                self._count(fields, doc, report)
        report.documents += len(batch) - len(outcome.done_elsewhere)
        report.already_enriched += len(outcome.done_elsewhere)
        report.conflicts += outcome.conflicts
        report.write_failures += outcome.write_failures
        if batch and batch[-1].sort:
            self._advance_checkpoint(batch[-1])

    def _enrich(self, docs: list[SourceDocument]) -> list[dict[str, Any]]:
        inputs = [self._input(doc) for doc in docs]
        with self._pipeline_lock:  # the sink thread re-enriches documents changed under it
            return self.pipeline.enrich(inputs, novel_templates=self._register_templates)

    def _register_templates(self, templates: dict[str, str]) -> set[str]:
        return self.state.register_templates(templates, source=",".join(self.settings.source.index_patterns))

    def _input(self, doc: SourceDocument) -> LogInput:
        config = self.settings.source
        message = get_field(doc.source, config.message_field)
        return LogInput(
            message=message,
            session_key=self._session_keys(doc.source, message),
            timestamp=epoch_seconds(get_field(doc.source, config.timestamp_field)),
        )

    def _update(self, doc: SourceDocument, fields: dict[str, Any]) -> DocumentUpdate:
        return DocumentUpdate(index=doc.index, doc_id=doc.doc_id, seq_no=doc.seq_no,
                              primary_term=doc.primary_term, fields=fields,
                              input_fingerprint=doc.source)  # the fields read: what the enrichment came from

    def _write_with_conflict_retries(self, updates: list[DocumentUpdate], results: list[dict[str, Any]]) -> "BatchOutcome":
        """Write; on a version conflict re-read the document and try again with its new version.

        If the re-read document still has the input we enriched, the same fields are re-sent; if
        someone changed it, it is enriched anew. A document already enriched by this pipeline version
        (by another worker, or by a run whose writes were not yet searchable) is left alone.
        """
        outcome = BatchOutcome(results=results)
        pending = updates
        for attempt in range(self.settings.sink.max_conflict_retries + 1):
            sink_report = self.sink.write(pending)
            self.metrics.retries.inc(sink_report.retries)
            conflicted = {(u.index, u.doc_id) for u in sink_report.conflicts}
            failed = {(u.index, u.doc_id) for u, _ in sink_report.failed}
            outcome.written |= {(u.index, u.doc_id) for u in pending} - conflicted - failed
            for update, reason in sink_report.failed:
                outcome.write_failures += 1
                self.metrics.write_failures.inc()
                log.error("update refused", extra={"index": update.index, "id": update.doc_id, "reason": reason})
            if not conflicted:
                break
            if attempt == self.settings.sink.max_conflict_retries:
                log.warning("giving up on conflicting updates for this pass; the next pass retries them",
                            extra={"count": len(conflicted)})
                break
            pending = self._refresh_conflicts(sink_report.conflicts, outcome.done_elsewhere)
            real_conflicts = len(conflicted - outcome.done_elsewhere)
            outcome.conflicts += real_conflicts
            self.metrics.conflicts.inc(real_conflicts)
        return outcome

    def _refresh_conflicts(
        self, conflicts: list[DocumentUpdate], done_elsewhere: set[tuple[str, str]]
    ) -> list[DocumentUpdate]:
        by_key = {(u.index, u.doc_id): u for u in conflicts}
        current = self.source.reread(list(by_key))
        namespace = self.settings.sink.namespace
        retry, changed = [], []
        for doc in current:
            if get_field(doc.source, f"{namespace}.pipeline_version") == self.settings.pipeline_version:
                done_elsewhere.add((doc.index, doc.doc_id))  # by another worker, or an earlier run
                continue
            previous = by_key[(doc.index, doc.doc_id)]
            if previous.input_fingerprint == doc.source:
                retry.append(self._update(doc, previous.fields))
            else:
                changed.append(doc)
        if changed:
            retry += [self._update(d, f) for d, f in zip(changed, self._enrich(changed))]
        return retry

    def _count(self, fields: dict[str, Any], doc: SourceDocument, report: PassReport) -> None:
        if fields.get("status") == ERROR:
            report.errors += 1
            reason = fields.get("error", "").split(":")[0]
            report.error_reasons[reason] = report.error_reasons.get(reason, 0) + 1
            self.metrics.documents.labels(status="error").inc()
            return
        report.enriched += 1
        self.metrics.documents.labels(status="ok").inc()
        if fields.get("template", {}).get("novel"):
            report.novel_templates += 1
            self.metrics.novel_templates.inc()
        label = fields.get("classification", {}).get("label")
        if label is not None:
            report.labels[label] = report.labels.get(label, 0) + 1
        anomaly = fields.get("anomaly", {})
        if anomaly.get("is_anomaly"):
            report.anomalies += 1
            self.metrics.anomalies.inc()
            if len(report.anomaly_examples) < 10:
                report.anomaly_examples.append({
                    "index": doc.index, "id": doc.doc_id, "session": fields.get("session"),
                    "template": fields["template"]["text"], "reasons": anomaly.get("reasons", [])[:3],
                })

    def _advance_checkpoint(self, last: SourceDocument) -> None:
        self.checkpoint.last_sort = last.sort
        timestamp = last.sort[0]
        if isinstance(timestamp, (int, float)) and abs(timestamp) < 1 << 62:
            self.checkpoint.last_timestamp = datetime.fromtimestamp(timestamp / 1000, timezone.utc)

    def save_state(self) -> None:
        self.checkpoint.updated_at = datetime.now(timezone.utc)
        with self._pipeline_lock:
            pipeline_state = self.pipeline.to_state()
        self.state.save(self.state_id, "source", {
            "index_patterns": self.settings.source.index_patterns,
            "pipeline_version": self.settings.pipeline_version,
            "checkpoint": self.checkpoint.model_dump(mode="json"),
            "pipeline": pipeline_state,
        })

    def _observe_pass(self, report: PassReport) -> None:
        self.metrics.pass_seconds.observe(report.seconds)
        if self.checkpoint.last_timestamp is not None:
            lag = (datetime.now(timezone.utc) - self.checkpoint.last_timestamp).total_seconds()
            self.metrics.lag.set(max(0.0, lag))
        log.info("pass finished", extra={k: v for k, v in asdict(report).items() if k != "anomaly_examples"})

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        saved = self.state.load(self.state_id) or {}
        checkpoint = Checkpoint.model_validate(saved.get("checkpoint") or {})
        self.checkpoint = checkpoint
        since = self.since()
        pending = self.source.count_pending(since) if self.source.any_index_exists() else 0
        lag = None
        if checkpoint.last_timestamp is not None:
            lag = (datetime.now(timezone.utc) - checkpoint.last_timestamp).total_seconds()
        return {
            "state_id": self.state_id,
            "index_patterns": self.settings.source.index_patterns,
            "pipeline_version": self.settings.pipeline_version,
            "checkpoint": checkpoint.model_dump(mode="json"),
            "pending_documents": pending,
            "lag_seconds": lag,
            "known_templates": self.state.count_templates(),
        }


def epoch_seconds(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1000.0 if value > 1e11 else float(value)  # epoch millis or seconds
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    return None

