"""``enricher anomaly``: train and score any anomaly model kind on DeepLog-format session files.

Hyperparameter defaults are the estimator classes' own (``enricher.anomaly``); an option left out here
keeps the model's default, and ``--param NAME=VALUE`` sets any other hyperparameter.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer

from enricher.anomaly.kinds import DEFAULT_TIME_BUDGET_SECONDS, anomaly_kinds
from enricher.cli.common import output_to

app = typer.Typer(
    help="Anomaly models (sequence LSTM/Transformer, LSTM autoencoder, VAE) over sessions of template ids."
)


def parse_duration(text: str) -> float | None:
    """Seconds in ``90``, ``90s``, ``5m``, ``1.5h`` (as every duration setting is written); ``none``/``off``/``0``
    mean no budget (None)."""
    from enricher import durations  # pydantic: not at import, so that `enricher --help` stays fast

    if text.strip().lower() in ("none", "off", "0"):
        return None
    try:
        return durations.parse_duration(text).total_seconds()
    except ValueError as exc:
        raise typer.BadParameter(f"{exc} (or 'none')") from None


def default_time_budget() -> str:
    """The estimators' default time budget, as the command line writes it."""
    return f"{DEFAULT_TIME_BUDGET_SECONDS:g}s"


def _parse_params(params: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; values are read as JSON when they parse (numbers, true/false, null)."""
    parsed: dict[str, Any] = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"--param {item!r}: expected NAME=VALUE")
        try:
            parsed[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            parsed[name.strip()] = value
    return parsed


def hyper_options(
    window: int | None, epochs: int | None, calibration_folds: int | None, calibration_fraction: float | None,
    seed: int | None, time_budget: str,
) -> dict[str, Any]:
    """The hyperparameters the shared training options set (None: the model's default)."""
    return {"window": window, "epochs": epochs, "calibration_folds": calibration_folds,
            "calibration_fraction": calibration_fraction, "seed": seed,
            "time_budget_seconds": parse_duration(time_budget)}


def train_kind(kind: str, sessions: Path, model_dir: Path, hyper: dict[str, Any]) -> None:
    """Fit ``kind`` on a session file with ``hyper`` over the class defaults; save a sealed folder."""
    from pydantic import ValidationError

    from enricher.anomaly import estimator_class
    from enricher.anomaly.io import read_sessions

    try:
        cls = estimator_class(kind)
        estimator = cls(**{k: v for k, v in hyper.items() if v is not None or k == "time_budget_seconds"})
    except (ValueError, ValidationError) as exc:
        typer.echo(f"cannot train {kind}: {exc}", err=True)
        raise typer.Exit(2) from exc
    data = read_sessions(sessions)
    started = time.perf_counter()
    estimator.fit(data, progress=True)
    estimator.save_pretrained(
        model_dir,
        training_data={"sessions_file": str(sessions), "sessions": len(data)},
        metrics={"train_seconds": round(time.perf_counter() - started, 1)},
    )
    thresholds = ", ".join(f"{name} {value:.4g}" for name, value in estimator.thresholds().items())
    typer.echo(f"saved {estimator.kind} to {model_dir} (thresholds: {thresholds})", err=True)


SessionsOption = typer.Option(
    ..., "--sessions", exists=True, dir_okay=False,
    help="Sessions, one per line, whitespace-separated template keys (DeepLog format).",
)
ModelDirOption = typer.Option(
    ..., "--model-dir", help="Model folder to write (weights, config, fitted values, sealed manifest)."
)
WindowOption = typer.Option(
    None, "--window", help="Events the model sees at once (sequence models, LSTM autoencoder). Default: the model's."
)
EpochsOption = typer.Option(None, "--epochs", help="Most passes over the distinct training rows. Default: the model's.")
FoldsOption = typer.Option(
    None, "--calibration-folds",
    help="Calibrate thresholds by k-fold on the normal sessions (k extra trainings; the saved model trains on all "
    "sessions); below 2: hold out --calibration-fraction instead. Default: the model's.",
)
FractionOption = typer.Option(
    None, "--calibration-fraction",
    help="Share of sessions held out to calibrate the thresholds when --calibration-folds is below 2.",
)
SeedOption = typer.Option(None, "--seed", help="Random seed (calibration split, initialisation, shuffling).")
BudgetOption = typer.Option(
    default_time_budget(), "--time-budget",
    help="Wall-clock budget of the whole training, calibration included (90s, 5m, 1h; 'none': epochs alone decide).",
)


@app.command("train")
def train(
    kind: str = typer.Option(..., "--kind", help="Model kind: " + ", ".join(anomaly_kinds()) + "."),
    sessions: Path = SessionsOption,
    model_dir: Path = ModelDirOption,
    window: Optional[int] = WindowOption,
    epochs: Optional[int] = EpochsOption,
    calibration_folds: Optional[int] = FoldsOption,
    calibration_fraction: Optional[float] = FractionOption,
    seed: Optional[int] = SeedOption,
    time_budget: str = BudgetOption,
    params: list[str] = typer.Option(
        [], "--param", help="Any other hyperparameter, NAME=VALUE (repeatable), e.g. --param hidden=32."
    ),
) -> None:
    """Train on normal sessions, calibrate thresholds on held-out normal ones, save a sealed model folder."""
    hyper = hyper_options(window, epochs, calibration_folds, calibration_fraction, seed, time_budget)
    train_kind(kind, sessions, model_dir, {**hyper, **_parse_params(params)})


@app.command("score")
def score(
    model_dir: Path = typer.Option(
        ..., "--model-dir", exists=True, file_okay=False,
        help="A model folder written by 'anomaly train' (or 'enricher train').",
    ),
    sessions: Path = typer.Option(
        ..., "--sessions", exists=True, dir_okay=False, help="Sessions to score, DeepLog format."
    ),
    output: Optional[Path] = typer.Option(None, "--output", help="JSON Lines file to write (default: stdout)."),
    kind: Optional[str] = typer.Option(
        None, "--kind", help="Check that the folder holds this kind (default: any; the folder names its kind)."
    ),
) -> None:
    """Write one {"score", "is_anomaly"} JSON object per input session, in order."""
    from enricher.anomaly import AnomalyEstimator
    from enricher.anomaly.io import read_sessions, write_scores

    estimator = AnomalyEstimator.from_pretrained(model_dir)
    if kind is not None and estimator.kind != kind:
        typer.echo(f"{model_dir} holds a {estimator.kind} model, not {kind}", err=True)
        raise typer.Exit(2)
    results = estimator.score_sessions(read_sessions(sessions))
    with output_to(output) as handle:
        write_scores(results, handle)
    flagged = sum(1 for _, bad in results if bad)
    typer.echo(f"scored {len(results)} sessions, {flagged} anomalous", err=True)


@app.command("generate")
def generate(
    model_dir: Path = typer.Option(
        ..., "--model-dir", exists=True, file_okay=False, help="An autoencoder-vae model folder."
    ),
    count: int = typer.Option(..., "--count", min=1, help="How many sessions to generate."),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the latent draws and of the rendered values (same seed, same output)."
    ),
    output: Optional[Path] = typer.Option(None, "--output", help="File to write (default: stdout)."),
    render: bool = typer.Option(
        False, "--render", help="Write one JSON object {session, event, template_id, message} per event, <*> "
        "filled with sampled values (needs --templates)."
    ),
    templates: Optional[Path] = typer.Option(
        None, "--templates", exists=True, dir_okay=False, help="With --render: JSON Lines of {id, template} (as "
        "'templates mine' writes) or a JSON object id -> template."
    ),
) -> None:
    """Sample synthetic sessions from a trained VAE: DeepLog lines ('anomaly score --sessions' reads them) or,
    with --render, log lines."""
    import numpy as np

    from enricher.anomaly import AnomalyEstimator, VaeDetector
    from enricher.anomaly.generate import load_templates, render_sessions

    if render and templates is None:
        raise typer.BadParameter("--render needs --templates", param_hint="--templates")
    if templates is not None and not render:
        raise typer.BadParameter("--templates only applies with --render", param_hint="--render")
    estimator = AnomalyEstimator.from_pretrained(model_dir)
    if not isinstance(estimator, VaeDetector):
        typer.echo(f"{model_dir} holds a {estimator.kind} model; only autoencoder-vae can generate sessions", err=True)
        raise typer.Exit(2)
    rng = np.random.default_rng(seed)
    sessions = estimator.sample_sessions(count, rng)
    texts = load_templates(templates) if templates is not None else None
    with output_to(output) as handle:
        if texts is None:
            handle.writelines(" ".join(session) + "\n" for session in sessions)
        else:
            try:
                handle.writelines(event.model_dump_json() + "\n" for event in render_sessions(sessions, texts, rng))
            except KeyError as exc:
                typer.echo(f"cannot render: {exc.args[0]}", err=True)
                raise typer.Exit(2) from exc
    lengths = [len(s) for s in sessions]
    typer.echo(f"generated {count} sessions ({min(lengths, default=0)}-{max(lengths, default=0)} events)", err=True)
