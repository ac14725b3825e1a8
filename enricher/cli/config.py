"""``enricher config``: check a configuration file without connecting anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from enricher.cli.common import ConfigOption, settings_or_exit

app = typer.Typer(help="The configuration: check a file and show the effective settings.", no_args_is_help=True)


@app.command()
def check(config: Optional[Path] = ConfigOption) -> None:
    """Validate the file plus environment; print the effective settings (YAML, secrets hidden).

    Exit 0 when valid (warnings about things that only matter when connecting go to stderr), exit 2 with
    one line per problem otherwise.
    """
    import yaml

    settings = settings_or_exit(config)
    for warning in settings.opensearch.warnings():
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(yaml.safe_dump(settings.redacted(), sort_keys=False, default_flow_style=False), nl=False)
    typer.echo(f"# valid: {config or 'defaults and environment'}", err=True)
