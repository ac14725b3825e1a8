"""The ``enricher`` command line: one Typer app with a sub-app per area.

Each area's commands live in their own module and import heavy libraries (torch, transformers,
opensearch-py) inside the command functions, so ``enricher --help`` stays fast.
"""

from __future__ import annotations

import typer

from enricher.cli import alerting, aliases, anomaly, classifier, dashboards, models, report, service, templates, train
from enricher.cli import config as config_cli

app = typer.Typer(
    name="enricher",
    help="Enrich log documents in OpenSearch with templates, classifications and anomaly scores.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("run")(service.run)
app.command("once")(service.once)
app.command("status")(service.status)
app.command("train")(train.train)
app.command("report")(report.report)
app.add_typer(service.mappings_app, name="mappings")
app.add_typer(service.samples_app, name="samples")
app.add_typer(templates.app, name="templates")
app.add_typer(anomaly.app, name="anomaly")
app.add_typer(aliases.sequence_app, name="sequence")
app.add_typer(aliases.autoencoder_app, name="autoencoder")
app.add_typer(classifier.app, name="classifier")
app.add_typer(models.app, name="models")
app.add_typer(config_cli.app, name="config")
app.add_typer(dashboards.app, name="dashboards")
app.add_typer(alerting.app, name="alerting")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
