"""``enricher train``: train every configured model from historical documents in OpenSearch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from enricher.cli.anomaly import default_time_budget, parse_duration
from enricher.cli.common import ConfigOption, client_or_exit, set_torch_threads, settings_or_exit


def train(
    config: Optional[Path] = ConfigOption,
    time_from: str = typer.Option(..., "--from", help="Start of the training period: ISO time or date math (now-7d)."),
    time_to: str = typer.Option("now", "--to", help="End of the training period (exclusive)."),
    kinds: Optional[list[str]] = typer.Option(None, "--kind", help="Train only this model kind (repeatable); default: every configured anomaly model."),
    promote: bool = typer.Option(False, "--promote/--no-promote", help="Promote the new versions so the service loads them."),
    progress: bool = typer.Option(True, help="Show progress bars on stderr."),
    calibration_folds: Optional[int] = typer.Option(
        None, help="Folds for out-of-fold threshold calibration (default: the models' own, 5); fewer is faster."),
    epochs: Optional[int] = typer.Option(None, help="Training epochs (default: the models' own)."),
    time_budget: str = typer.Option(
        default_time_budget(), "--time-budget",
        help="Wall-clock budget of training every kind, calibration included, shared equally among the kinds "
        "(90s, 5m, 1h; 'none': epochs alone decide)."),
) -> None:
    """Train the configured anomaly models from documents between --from and --to.

    Documents are mined with the service's template miner (its state is read from and saved back to
    OpenSearch, so ids match what the service writes) and grouped into sessions as the service groups
    them. Each model becomes a new version in the registry (models.registry), sealed with its trained
    thresholds; with --promote the service loads it at its next start.
    """
    from tqdm import tqdm

    from enricher.cluster.mappings import install_mappings
    from enricher.observability import configure_logging
    from enricher.cluster.source import DocumentSource
    from enricher.cluster.state import StateStore, source_state_id
    from enricher.orchestration.loading import build_pipeline
    from enricher.orchestration.training import collect_sessions, train_anomaly_models
    from enricher.registry import ModelRegistry

    settings = settings_or_exit(config)
    configure_logging(settings.log_level, settings.log_format)
    set_torch_threads(settings.models.torch_threads)  # as the service does: a shared machine
    client = client_or_exit(settings)
    state = StateStore(client, settings.state_index)
    state_id = source_state_id(settings.source.index_patterns, settings.pipeline_version)
    source = DocumentSource.for_settings(client, settings)
    install_mappings(client, settings)
    saved = state.load_pipeline(state_id) or {}
    pipeline = build_pipeline(settings.model_copy(update={"models": settings.models.model_copy(
        update={"classifier": False, "sequence_kinds": [], "autoencoder_kinds": []})}), saved)
    total = client.count(index=source.index, body={"query": source.pending_query(
        time_from, time_to, pending_only=False)})["count"]
    with tqdm(total=total, unit="doc", desc="mining templates", disable=not progress, file=sys.stderr) as bar:
        def batches():
            for batch in source.iter_batches(time_from, until=time_to, pending_only=False):
                bar.update(len(batch))
                yield batch

        sessions = collect_sessions(batches(), pipeline, settings, source.log_input)
    typer.echo(f"{sessions.documents} documents in {len(sessions.ids)} sessions, {len(pipeline.miner)} templates",
               err=True)
    # Save the miner so the service assigns the same template ids the models were trained on.
    saved["miner"] = pipeline.miner.to_state()
    state.save_pipeline(state_id, saved)
    budget = parse_duration(time_budget)
    hyper = {k: v for k, v in {"calibration_folds": calibration_folds, "epochs": epochs}.items() if v is not None}
    if budget is None:
        hyper["time_budget_seconds"] = None
    try:
        trained = train_anomaly_models(
            sessions, settings, ModelRegistry(settings.models.registry), kinds=kinds, promote=promote,
            training_data={"index_patterns": settings.source.index_patterns, "from": time_from, "to": time_to},
            progress=progress, hyper=hyper, time_budget_seconds=budget,
        )
    except ValueError as exc:
        typer.echo(f"cannot train: {exc}", err=True)
        raise typer.Exit(2) from exc
    for model in trained:
        thresholds = ", ".join(f"{k}={v:.4g}" for k, v in model.thresholds.items())
        state = "promoted" if promote else "not promoted"
        typer.echo(f"{model.manifest.kind} {model.manifest.version} ({state}); thresholds: {thresholds}")
