"""``enricher report``: findings and incidents of a time range as an HTML page, Markdown or JSON."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from enricher.cli.common import ConfigOption, client_or_exit, settings_or_exit


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """``now``, ``now-6h`` (any duration as settings write it) or an ISO-8601 time (UTC when no zone is given)."""
    from enricher.durations import parse_duration

    now, text = now or datetime.now(timezone.utc), text.strip()
    if text == "now":
        return now
    try:
        if text.startswith("now-"):
            return now - parse_duration(text[len("now-"):])
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is neither now[-N(s|m|h|d|w)] nor an ISO-8601 time") from exc
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def report(
    config: Optional[Path] = ConfigOption,
    from_: str = typer.Option("now-1d", "--from", help="Start: ISO-8601 time or now-N(s|m|h|d|w)."),
    to: str = typer.Option("now", "--to", help="End (exclusive): ISO-8601 time or now-N(s|m|h|d|w)."),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="File to write ('-': standard output)."),
    output_format: str = typer.Option("html", "--format", help="html, markdown or json."),
    write: bool = typer.Option(False, "--write/--no-write", help="Also write the findings to the findings index."),
) -> None:
    """Findings, incidents and their likely causes between --from and --to, as a report a person can read."""
    from enricher.findings.engine import analyse
    from enricher.findings.index import write_findings
    from enricher.findings.render import render, report_data

    if output_format not in ("html", "markdown", "json"):
        raise typer.BadParameter("--format must be html, markdown or json")
    start, end = parse_time(from_), parse_time(to)
    if end <= start:
        raise typer.BadParameter(f"--to ({end.isoformat()}) must be after --from ({start.isoformat()})")
    settings = settings_or_exit(config)
    client = client_or_exit(settings)
    result = analyse(client, settings, start, end)
    if write:
        result.written = write_findings(client, settings, result.findings + result.incidents)
    text = render(report_data(result), output_format)
    if str(output) == "-":
        typer.echo(text)
        return
    output.write_text(text, encoding="utf-8")
    summary = result.summary()
    typer.echo(f"{output}: {summary['documents']} documents, {summary['findings']} findings, "
               f"{summary['incidents']} incidents ({summary['seconds']} s)", err=True)
