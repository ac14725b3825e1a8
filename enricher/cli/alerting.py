"""``enricher alerting``: OpenSearch Alerting monitors on the enriched fields and the findings index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from enricher.cli.common import ConfigOption, client_or_exit, fail, settings_or_exit

app = typer.Typer(help="OpenSearch Alerting monitors (anomalies, templates, sessions, novel templates, incidents).",
                  no_args_is_help=True)

PatternOption = typer.Option(None, "--index-pattern", help="Enriched indices (default: source.index_patterns[0]).")
NamespaceOption = typer.Option(None, "--namespace", help="The enricher's namespace (default: sink.namespace).")


def _options(settings, index_pattern: Optional[str], namespace: Optional[str]):
    from pydantic import ValidationError

    from enricher.alerting import MonitorOptions

    try:
        return MonitorOptions(index_pattern=index_pattern or settings.source.index_patterns[0],
                              namespace=namespace or settings.sink.namespace,
                              findings_index=settings.findings.index)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("install")
def install(
    config: Optional[Path] = ConfigOption,
    index_pattern: Optional[str] = PatternOption,
    namespace: Optional[str] = NamespaceOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Name each monitor and what would happen; change nothing."),
) -> None:
    """Create the monitors, or update the ones of the same name (idempotent). Exits 4 without the Alerting plugin."""
    from enricher.alerting import AlertingUnavailable, install_monitors, monitors

    settings = settings_or_exit(config)
    options = _options(settings, index_pattern, namespace)
    client = client_or_exit(settings)
    try:
        report = install_monitors(client, list(monitors(options).values()), dry_run=dry_run)
    except AlertingUnavailable as exc:
        raise fail(str(exc), 4) from None
    if not report.plugin_present:
        typer.echo("note: the Alerting plugin is not installed here, so existing monitors were not looked up; "
                   "install would exit 4", err=True)
    verbs = ("would create", "would update") if dry_run else ("created", "updated")
    for verb, names in zip(verbs, (report.created, report.updated)):
        for name in names:
            typer.echo(f"{verb}: {name}")


@app.command("export")
def export(
    config: Optional[Path] = ConfigOption,
    index_pattern: Optional[str] = PatternOption,
    namespace: Optional[str] = NamespaceOption,
    output_dir: Path = typer.Option(Path("alerting-monitors"), "--output-dir", "-o", help="Folder for the JSON files."),
) -> None:
    """Write each monitor as the JSON body of POST _plugins/_alerting/monitors, one file per monitor."""
    from enricher.alerting import monitors

    options = _options(settings_or_exit(config), index_pattern, namespace)
    output_dir.mkdir(parents=True, exist_ok=True)
    for stem, body in monitors(options).items():
        path = output_dir / f"{stem}.json"
        path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"{path}: {body['name']}", err=True)
