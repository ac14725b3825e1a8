"""``enricher dashboards``: OpenSearch Dashboards saved objects for the enriched fields."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="OpenSearch Dashboards saved objects (index patterns, searches, visualisations, dashboard).",
                  no_args_is_help=True)


@app.command("export")
def export(
    index_pattern: str = typer.Option("logs-*", "--index-pattern", help="Index pattern of the enriched indices."),
    namespace: str = typer.Option("enrichment", "--namespace", help="The enricher's namespace (sink.namespace)."),
    findings_index: str = typer.Option("enricher-findings", "--findings-index", help="The findings index."),
    host_field: str = typer.Option("host.name", "--host-field", help="Field naming the host in your documents."),
    output: Path = typer.Option(Path("-"), "--output", "-o", help="NDJSON file to write ('-': standard output)."),
) -> None:
    """Write the saved objects as NDJSON for Stack Management > Saved objects > Import.

    Ids derive from the pattern and namespace: importing a newer export overwrites the same objects.
    """
    from pydantic import ValidationError

    from enricher.dashboards import ExportOptions, saved_objects, to_ndjson

    try:
        options = ExportOptions(index_pattern=index_pattern, namespace=namespace, findings_index=findings_index,
                                host_field=host_field)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None
    objects = saved_objects(options)
    text = to_ndjson(objects)
    if str(output) == "-":
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"{output}: {len(objects)} saved objects for {index_pattern}", err=True)
