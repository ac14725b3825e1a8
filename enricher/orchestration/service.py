"""The enrichment service: source -> pipeline -> writer -> report, in passes, on a schedule.

A pass reads every pending document (oldest first), enriches it in batches, writes each batch back, and
moves the checkpoint. The query itself skips documents already enriched by this pipeline version, so a
crash or restart at any point neither skips a document nor applies an enrichment twice; the checkpoint
only narrows where the next pass looks, and never past a document that is still pending. Every
``source.catchup_interval`` a pass sweeps the whole lookback window, for documents that arrived later than
``late_arrival`` behind the checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from opensearchpy import OpenSearch

from enricher.cluster.client import retry_policy
from enricher.cluster.mappings import install_mappings, put_mapping_on_existing
from enricher.cluster.sink import BulkSink
from enricher.cluster.source import DocumentSource, SourceDocument
from enricher.cluster.state import Checkpoint, PassProgress, StateStore, TemplateStore, source_state_id
from enricher.cluster.writer import ConflictAwareWriter, DocumentOutcome, Fate
from enricher.config import Settings
from enricher.findings.engine import FindingsSchedule
from enricher.observability import Metrics
from enricher.orchestration.loading import available_model_kinds, build_pipeline
from enricher.orchestration.novelty import TemplateRecords
from enricher.orchestration.pipeline import EnrichmentPipeline
from enricher.orchestration.report import PassReport
from enricher.records import Enrichment

log = logging.getLogger(__name__)

MAX_SWEEPS_PER_PASS = 5
CHECKPOINT_SAVE_SECONDS = 5.0


class EnrichmentService:
    def __init__(self, settings: Settings, client: OpenSearch) -> None:
        self.settings = settings
        self.client = client
        self.metrics = Metrics()
        policy = retry_policy(settings)
        self.state = StateStore(client, settings.state_index)
        self.state_id = source_state_id(settings.source.index_patterns, settings.pipeline_version)
        self.source = DocumentSource.for_settings(client, settings)
        self.templates = TemplateRecords(settings, client, self.source,
                                         TemplateStore(client, settings.templates_index, policy), self.metrics)
        self.sink = BulkSink(client, settings.sink, on_retry=self.metrics.retries.inc)
        self.writer = ConflictAwareWriter(
            self.sink, self.source.reread, self._enrich, namespace=settings.sink.namespace,
            pipeline_version=settings.pipeline_version, max_conflict_retries=settings.sink.max_conflict_retries,
        )
        self._pipeline: EnrichmentPipeline | None = None
        self._pipeline_lock = threading.Lock()  # the writer's thread re-enriches documents changed under it
        self.checkpoint = Checkpoint()
        self._first_pass = True
        self.findings = FindingsSchedule(client, settings)

    # -- start-up -------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Install mappings, load saved state and the models. Call once before passes."""
        self._skip_conflicting(install_mappings(self.client, self.settings).conflicts)
        self.source.check_timestamp_mapping()
        self.checkpoint = self.state.load_checkpoint(self.state_id)
        if self._pipeline is None:
            self._pipeline = build_pipeline(self.settings, self.state.load_pipeline(self.state_id))
        self.source.loaded_models = [scorer.kind for scorer in self.pipeline.scorers]
        if self.pipeline.classifier is not None:
            self.source.loaded_models.insert(0, "classifier")
        log.info("service ready", extra={"state_id": self.state_id, "models": self.pipeline.model_versions,
                                          "missing_models": self.pipeline.missing_models,
                                          "checkpoint": self.checkpoint.last_timestamp})

    @property
    def pipeline(self) -> EnrichmentPipeline:
        if self._pipeline is None:
            raise RuntimeError("call prepare() first")
        return self._pipeline

    # -- passes ---------------------------------------------------------------------------------
    def lookback_start(self, now: datetime) -> datetime | None:
        lookback = self.settings.source.lookback
        return None if lookback is None else now - lookback

    def since(self, now: datetime | None = None) -> datetime | None:
        """Lower time bound of the next narrow sweep: the checkpoint less late_arrival, within lookback."""
        now = now or datetime.now(timezone.utc)
        return self.checkpoint.since(late_arrival=self.settings.source.late_arrival,
                                     lookback_start=self.lookback_start(now))

    def run_pass(
        self,
        should_stop: Callable[[], bool] = lambda: False,
        progress: Callable[[int], None] | None = None,
        *,
        full_sweep: bool = False,
    ) -> PassReport:
        """One pass. ``full_sweep``: sweep the whole lookback window now (as every catchup_interval)."""
        started, now = time.monotonic(), datetime.now(timezone.utc)
        report = PassReport()
        self._refresh_mappings(report)
        self.templates.reconcile(self.pipeline.miner)
        # The first pass of a process (after a restart: models may have changed, documents may have arrived
        # while it was down), a first pass ever, and every catchup_interval one sweep the whole window.
        report.catchup = full_sweep or self._first_pass or self.checkpoint.last_timestamp is None or \
            self.checkpoint.catchup_due(now, self.settings.source.catchup_interval)
        since = self.lookback_start(now) if report.catchup else self.since(now)
        tracker = PassProgress(self.checkpoint, now)
        run = _PassRun(report, tracker, progress)
        try:
            # A sweep pages through one point-in-time snapshot. Documents on different shards can tie on
            # (timestamp, _doc) at a page boundary and be passed over (see source.py); they are still
            # pending, so another sweep picks them up, along with documents that arrived meanwhile. A
            # sweep that wrote nothing new ends the pass (documents that keep failing wait for the next).
            for _ in range(MAX_SWEEPS_PER_PASS):
                report.sweeps += 1
                if self._sweep(since, run, should_stop) == 0 or should_stop() or self._batch_limit_reached(report):
                    break
        finally:
            report.stopped_early = should_stop() or self._batch_limit_reached(report)
            tracker.finish(swept_from_retry_point=not report.stopped_early)
            if report.catchup and not report.stopped_early:
                self.checkpoint.last_catchup = now
                self._first_pass = False
            self.checkpoint.passes += 1
            report.seconds = time.monotonic() - started
            self.checkpoint.last_pass = report.as_dict(examples=False)
            self._save_at_end(run)
        self.templates.rekey_aliased(self.pipeline.miner)
        # Records of this pass whose documents ended with another template:
        self.templates.reconcile(self.pipeline.miner)
        self.templates.evict(now)
        if self.findings.due(now):  # trends and incidents; a failure is logged, never fails the pass
            self.findings.run(now)
        self._observe_pass(report)
        return report

    def _refresh_mappings(self, report: PassReport) -> None:
        """Indices created since the last pass get the mapping (or are left out, with the reason)."""
        self._skip_conflicting(put_mapping_on_existing(self.client, self.settings).conflicts)
        self.source.check_timestamp_mapping()
        report.excluded_indices = dict(self.source.excluded)

    def _skip_conflicting(self, conflicts: dict[str, str]) -> None:
        for index, reason in conflicts.items():
            self.source.exclude(index, f"its mapping conflicts with the enrichment fields: {reason}")

    def _sweep(self, since: datetime | None, run: _PassRun, should_stop: Callable[[], bool]) -> int:
        """Page through pending documents once; return how many new documents were handled.

        Batches are pipelined: while one batch is written (OpenSearch's work), the next is read and
        enriched (ours), so the models' CPU time overlaps the cluster's. Writes stay in order, one at a
        time, and a batch counts (report, checkpoint) only once its write has finished.
        """
        # Make earlier writes searchable, so their documents are not read again as pending (if they
        # were, the version check would still prevent a second write).
        self.source.refresh()
        handled = 0
        in_flight: Future[tuple[list[SourceDocument], list[DocumentOutcome]]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enricher-writer") as writer_thread:
            for page in self.source.iter_batches(since, should_stop=should_stop):
                batch = [doc for doc in page if doc.ref not in run.unwritten]  # failed earlier in this pass
                if self._pipeline_state_due(run):
                    if in_flight is not None:  # saved state must not know templates of unwritten batches
                        self._finish_batch(in_flight.result(), run)
                        in_flight = None
                    self.save_pipeline_state()
                    run.pipeline_saved = time.monotonic()
                if not batch:
                    continue
                fields = self._enrich(batch)
                if in_flight is not None:
                    self._finish_batch(in_flight.result(), run)
                in_flight = writer_thread.submit(lambda b=batch, f=fields: (b, list(self.writer.write(b, f))))
                handled += len(batch)
                if self._batch_limit_reached(run.report, in_flight=1):
                    break
            if in_flight is not None:
                self._finish_batch(in_flight.result(), run)
        return handled

    def _batch_limit_reached(self, report: PassReport, in_flight: int = 0) -> bool:
        limit = self.settings.schedule.max_batches_per_pass
        return limit is not None and report.batches + in_flight >= limit

    def _finish_batch(self, written: tuple[list[SourceDocument], list[DocumentOutcome]], run: _PassRun) -> None:
        batch, outcomes = written
        unwritten = []
        for outcome in outcomes:
            run.report.add(outcome)
            self.metrics.observe(outcome)
            if outcome.fate is Fate.PENDING:
                run.unwritten.add(outcome.doc.ref)
                unwritten.append(outcome.doc.sorted_at)
        if unwritten:
            log.error("%d documents of a batch could not be written; a later pass retries them", len(unwritten),
                      extra={"reasons": run.report.failure_reasons})
        run.report.batches += 1
        self.templates.written(outcomes, today=run.tracker.started_at.date().isoformat())
        run.tracker.batch_done(batch[-1].sorted_at if batch else None, unwritten)
        if run.progress is not None:
            run.progress(len(batch))
        self._save_progress(run)

    def _enrich(self, docs: list[SourceDocument]) -> list[Enrichment]:
        inputs = [self.source.log_input(doc) for doc in docs]
        refs = [doc.ref for doc in docs]
        with self._pipeline_lock:
            return self.pipeline.enrich(
                inputs, judge_novelty=lambda c, a: self.templates.novel(self.pipeline.miner, c, a, refs))

    # -- state ----------------------------------------------------------------------------------
    def _save_at_end(self, run: _PassRun) -> None:
        try:
            self._save_progress(run, force=True)
            self.save_pipeline_state()
        except Exception:  # e.g. the cluster went away: the pass's own error (if any) is the one to raise
            log.exception("could not save the state at the end of the pass; the next pass redoes its work")

    def _pipeline_state_due(self, run: _PassRun) -> bool:
        return time.monotonic() - run.pipeline_saved >= self.settings.state_save_interval.total_seconds()

    def _save_progress(self, run: _PassRun, *, force: bool = False) -> None:
        """The checkpoint and the totals this pass added: every few seconds (small documents)."""
        if not force and time.monotonic() - run.progress_saved < CHECKPOINT_SAVE_SECONDS:
            return
        self.state.save_checkpoint(self.state_id, self.checkpoint, index_patterns=self.settings.source.index_patterns,
                                   pipeline_version=self.settings.pipeline_version)
        totals = run.report.totals()
        self.state.add_totals(self.state_id, {name: n - run.totals_saved.get(name, 0) for name, n in totals.items()})
        run.totals_saved = totals
        run.progress_saved = time.monotonic()

    def save_pipeline_state(self) -> None:
        with self._pipeline_lock:
            state = self.pipeline.to_state()
        self.state.save_pipeline(self.state_id, state)

    def _observe_pass(self, report: PassReport) -> None:
        self.metrics.pass_seconds.observe(report.seconds)
        report.pending_after = self.source.count_pending(self.since())
        self.metrics.pending.set(report.pending_after)
        self.metrics.lag.set(self._lag(report.pending_after) or 0.0)
        if report.write_failures:
            log.warning("pass finished with documents left pending", extra=report.as_dict(examples=False))
        else:
            log.info("pass finished", extra=report.as_dict(examples=False))

    def _lag(self, pending: int) -> float | None:
        """How far behind the service is: the age of the checkpoint while documents wait, else 0."""
        if self.checkpoint.last_timestamp is None:
            return None
        if pending == 0:
            return 0.0
        return max(0.0, (datetime.now(timezone.utc) - self.checkpoint.last_timestamp).total_seconds())

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        self.checkpoint = self.state.load_checkpoint(self.state_id)
        self.source.loaded_models = available_model_kinds(self.settings)
        self.source.check_timestamp_mapping()
        now = datetime.now(timezone.utc)
        since = self.since(now)
        ahead = self.source.count_pending(since)
        behind = 0 if since is None else self.source.count_pending(self.lookback_start(now), until=since)
        totals = self.state.load_totals(self.state_id)
        checkpoint = self.checkpoint.model_dump(mode="json")
        checkpoint.update(documents_enriched=totals["enriched"], documents_failed=totals["errors"])
        return {
            "state_id": self.state_id,
            "index_patterns": self.settings.source.index_patterns,
            "pipeline_version": self.settings.pipeline_version,
            "checkpoint": checkpoint,
            "totals": totals,
            "pending_documents": ahead + behind,
            "pending_ahead_of_checkpoint": ahead,
            "pending_behind_checkpoint": behind,
            "excluded_indices": dict(self.source.excluded),
            "lag_seconds": self._lag(ahead + behind),
            "known_templates": self.templates.store.count(),
            "template_aliases": self.templates.store.count(aliases=True),
            "aliases_to_rekey": self.templates.store.count(pending=True),
        }


@dataclass
class _PassRun:
    """What one pass carries between its batches."""

    report: PassReport
    tracker: PassProgress
    progress: Callable[[int], None] | None
    unwritten: set[tuple[str, str]] = field(default_factory=set)  # refs left pending: not retried in this pass
    totals_saved: dict[str, int] = field(default_factory=dict)
    progress_saved: float = field(default_factory=time.monotonic)
    pipeline_saved: float = field(default_factory=time.monotonic)
