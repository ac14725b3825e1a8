"""Service commands: run on a schedule, one pass, status, mappings, sample data."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from contextlib import suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import typer

from enricher.cli.common import ConfigOption, client_or_exit, settings_or_exit

mappings_app = typer.Typer(help="Index mappings for the enriched fields.", no_args_is_help=True)
samples_app = typer.Typer(help="Generated sample logs (no external data needed).", no_args_is_help=True)


def once(
    config: Optional[Path] = ConfigOption,
    json_output: bool = typer.Option(False, "--json", help="Print the pass report as JSON instead of a summary."),
    progress: bool = typer.Option(True, help="Show a progress bar on stderr."),
) -> None:
    """Run one enrichment pass over all pending documents (the whole lookback window), then print a summary."""
    from tqdm import tqdm

    from enricher.observability import configure_logging
    from enricher.orchestration.service import EnrichmentService

    settings = settings_or_exit(config)
    client = client_or_exit(settings)
    configure_logging(settings.log_level, settings.log_format)
    service = EnrichmentService(settings, client)
    service.prepare()
    pending = service.source.count_pending(service.lookback_start(datetime.now(timezone.utc)))
    stop = _stop_on_signals()
    with tqdm(total=pending, unit="doc", desc="enriching", disable=not progress or pending == 0, file=sys.stderr) as bar:
        report = service.run_pass(should_stop=stop.is_set, progress=bar.update, full_sweep=True)
    if json_output:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        typer.echo(format_summary(report, service))


def run(config: Optional[Path] = ConfigOption) -> None:
    """Run the service: an enrichment pass every schedule.interval_seconds, until SIGTERM/SIGINT.

    Passes never overlap. On SIGTERM the current batch is finished and written, state is saved, and
    the process exits.
    """
    from apscheduler.schedulers.background import BackgroundScheduler

    from enricher.observability import configure_logging
    from enricher.orchestration.service import EnrichmentService

    settings = settings_or_exit(config)
    configure_logging(settings.log_level, settings.log_format)
    _log_miner_build()
    # Two INFO lines per pass ("Running job", "executed successfully") say nothing the pass log does not,
    # and a pass longer than the interval makes it warn at every skipped run: passes never overlap by design.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").addFilter(
        lambda record: "maximum number of running instances reached" not in record.getMessage())
    stop = _stop_on_signals()
    client = client_or_exit(settings, wait_until=stop)  # a service waits for its cluster rather than exiting
    service = EnrichmentService(settings, client)
    service.prepare()
    if settings.metrics_port:
        service.metrics.serve(settings.metrics_port, settings.metrics_host)

    def enrichment_pass() -> None:
        try:
            service.run_pass(should_stop=stop.is_set)
        except Exception:  # a failed pass is logged and retried at the next interval
            logging.getLogger("enricher").exception("pass failed; retrying at the next interval")

    scheduler = BackgroundScheduler()
    scheduler.add_job(enrichment_pass, "interval", seconds=settings.schedule.interval_seconds,
                      max_instances=1, coalesce=True, next_run_time=datetime.now(timezone.utc))
    scheduler.start()
    stop.wait()
    scheduler.shutdown(wait=True)  # lets a running pass finish its batch and save state


def _log_miner_build() -> None:
    from enricher import native

    log = logging.getLogger("enricher")
    log.info("template miner: %s", native.build_name())
    warning = native.stale_warning()
    if warning:
        log.warning(warning)


def status(
    config: Optional[Path] = ConfigOption,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show checkpoints, pending documents, lag and counts."""
    settings = settings_or_exit(config)
    client = client_or_exit(settings)
    from enricher.orchestration.service import EnrichmentService

    info = EnrichmentService(settings, client).status()
    if json_output:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    checkpoint = info["checkpoint"]
    lag = info["lag_seconds"]
    typer.echo(f"indices           {', '.join(info['index_patterns'])}")
    typer.echo(f"pipeline version  {info['pipeline_version']}")
    typer.echo(f"checkpoint        {checkpoint.get('last_timestamp') or 'none yet'}")
    typer.echo(f"lag               {'-' if lag is None else f'{lag:.0f} s'}")
    typer.echo(f"pending documents {info['pending_documents']}  (ahead of the checkpoint: "
               f"{info['pending_ahead_of_checkpoint']}, behind it: {info['pending_behind_checkpoint']})")
    totals = info["totals"]
    typer.echo(f"totals            enriched {totals['enriched']}, marked as errors {totals['errors']}, "
               f"write failures (retried) {totals['write_failures']}  (all workers)")
    typer.echo(f"passes            {checkpoint.get('passes', 0)}")
    typer.echo(f"known templates   {info['known_templates']}  (plus {info['template_aliases']} ids they replaced, "
               f"{info['aliases_to_rekey']} of them on documents still to re-key)")
    for index, reason in info["excluded_indices"].items():
        typer.echo(f"left out          {index}: {reason}")


@mappings_app.command("install")
def mappings_install(config: Optional[Path] = ConfigOption) -> None:
    """Install or upgrade the enrichment mappings (idempotent) and put them on existing indices.

    Exits 4 if an index maps an enriched field with another type (it is named; the service skips it).
    """
    from enricher.cluster.mappings import MappingConflictError, install_mappings
    from enricher.findings.index import ensure_findings_index

    settings = settings_or_exit(config)
    client = client_or_exit(settings)
    try:
        report = install_mappings(client, settings)
        ensure_findings_index(client, settings, report)
    except MappingConflictError as exc:
        typer.echo(f"mapping conflict: {exc}", err=True)
        raise typer.Exit(4) from exc
    for verb, items in (("installed", report.changed), ("unchanged", report.unchanged), ("removed", report.removed)):
        for item in items:
            typer.echo(f"{verb:<10} {item}")
    for index, reason in report.conflicts.items():
        typer.echo(f"conflict   {index}: {reason}", err=True)
    if report.conflicts:
        raise typer.Exit(4)


@samples_app.command("load")
def samples_load(
    config: Optional[Path] = ConfigOption,
    index: str = typer.Option("logs-sample", help="Index to load into (must match source.index_patterns)."),
    history: int = typer.Option(6000, help="Normal documents from 6 to 1 hours ago (training data)."),
    live: int = typer.Option(2000, help="Documents in the last hour, with injected anomalies and bad documents."),
    seed: int = typer.Option(7, help="Random seed."),
    reset_state: bool = typer.Option(True, help="Also forget the enricher's checkpoint and templates for this config."),
) -> None:
    """Generate sample web-shop logs and index them (deleting an earlier sample index first)."""
    from opensearchpy import helpers

    from enricher.samples import history_and_live

    settings = settings_or_exit(config)
    client = client_or_exit(settings)
    past, recent = history_and_live(history, live, seed=seed)
    client.indices.delete(index=index, params={"ignore_unavailable": "true"})
    client.indices.create(index=index, body={
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {"properties": {"@timestamp": {"type": "date"}, "message": {"type": "text"},
                                    "level": {"type": "keyword"}, "service": {"type": "keyword"},
                                    "host": {"type": "keyword"}, "trace_id": {"type": "keyword"}}},
    })
    docs = past + recent
    ok, _ = helpers.bulk(client, ({"_index": index, "_source": d} for d in docs), refresh="wait_for")
    typer.echo(f"indexed {ok} sample documents into {index} ({len(past)} history, {len(recent)} live)")
    if reset_state:
        from opensearchpy import NotFoundError

        from enricher.cluster.state import source_state_id

        state_id = source_state_id(settings.source.index_patterns, settings.pipeline_version)
        with suppress(NotFoundError):  # no checkpoint yet (a fresh cluster): nothing to forget
            client.delete(index=settings.state_index, id=state_id)
        client.indices.delete(index=settings.templates_index, params={"ignore_unavailable": "true"})
        typer.echo("reset the enricher's checkpoint and known templates for this configuration")


@samples_app.command("load-lines")
def samples_load_lines(
    input_file: Path = typer.Option(..., "--input", exists=True, dir_okay=False, help="A text file, one log message per line."),
    config: Optional[Path] = ConfigOption,
    index: str = typer.Option("logs-lines", help="Index to load into (must match source.index_patterns to be enriched)."),
    spacing_ms: int = typer.Option(100, help="Milliseconds between consecutive lines' timestamps."),
) -> None:
    """Index a file of log lines as documents (message, @timestamp), e.g. a Loghub *.log file.

    Timestamps are replayed: the last line gets the current time, earlier lines are spaced back from it.
    """
    from opensearchpy import helpers

    settings = settings_or_exit(config)
    client = client_or_exit(settings)
    lines = [line for line in input_file.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    end = datetime.now(timezone.utc)
    start = end - timedelta(milliseconds=spacing_ms * len(lines))
    actions = (
        {"_index": index, "_source": {
            settings.source.timestamp_field: (start + timedelta(milliseconds=spacing_ms * i)).isoformat(),
            settings.source.message_field: line, "log.file": input_file.name}}
        for i, line in enumerate(lines)
    )
    ok, _ = helpers.bulk(client, actions, refresh="wait_for")
    typer.echo(f"indexed {ok} lines from {input_file} into {index}")


def format_summary(report, service) -> str:
    lines = [
        "",
        "Enrichment pass",
        f"  documents read       {report.documents}",
        f"  enriched             {report.enriched}",
        f"  marked as errors     {report.errors}" + (f"  {report.error_reasons}" if report.error_reasons else ""),
        f"  not written, pending {report.write_failures}"
        + (f"  {report.failure_reasons}" if report.failure_reasons else "")
        + ("  (a later pass retries them)" if report.write_failures else ""),
        f"  already enriched     {report.already_enriched} (by another worker)",
        f"  version conflicts    {report.conflicts} (re-read and resolved)",
        f"  templates known      {len(service.pipeline.miner)}  (novel this pass: {report.novel_templates})",
        f"  classifications      {report.labels or 'none (no classifier, no level field)'}",
        f"  anomalies            {report.anomalies}",
        f"  models               {', '.join(service.pipeline.model_versions)}",
        f"  time                 {report.seconds:.1f} s"
        + (f" ({report.documents / report.seconds:.0f} docs/s)" if report.seconds > 0 else ""),
    ]
    if report.anomaly_examples:
        lines.append("  examples of anomalies:")
        for example in report.anomaly_examples[:5]:
            lines.append(f"    [{example['session']}] {example['template']}")
            for reason in example["reasons"]:
                lines.append(f"        - {reason}")
    for index, reason in report.excluded_indices.items():
        lines.append(f"  left out: {index}: {reason}")
    if report.pending_after:
        lines.append(f"  still pending        {report.pending_after}")
    if report.stopped_early:
        lines.append("  (stopped early; the next pass continues)")
    return "\n".join(lines)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop

