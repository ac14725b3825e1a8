"""``enricher autoencoder``: train and score autoencoders (LSTM-AE, VAE) on DeepLog-format sessions."""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path

import typer

app = typer.Typer(help="Autoencoders (LSTM-AE over event windows, VAE over template counts) over sessions of template ids.")


class AutoencoderArch(str, Enum):
    lstm_ae = "lstm-ae"
    vae = "vae"


@app.command("train")
def train(
    sessions: Path = typer.Option(..., "--sessions", exists=True, dir_okay=False, help="Normal sessions, one per line, whitespace-separated template keys (DeepLog format)."),
    model_dir: Path = typer.Option(..., "--model-dir", help="Model folder to write (weights, config, sealed manifest)."),
    arch: AutoencoderArch = typer.Option(AutoencoderArch.lstm_ae, "--arch", help="lstm-ae: windows of events; vae: template-count vector per session."),
    window: int = typer.Option(10, "--window", help="lstm-ae: events per window."),
    epochs: int = typer.Option(40, "--epochs", help="Training epochs over the distinct windows or count vectors."),
    calibration_folds: int = typer.Option(5, "--calibration-folds", help="Calibrate thresholds by k-fold on the normal sessions (k extra trainings; the saved model trains on all sessions). Below 2: hold out --calibration-fraction instead."),
    calibration_fraction: float = typer.Option(0.1, "--calibration-fraction", help="Share of sessions held out to calibrate the threshold when --calibration-folds is below 2."),
    min_steps: int = typer.Option(400, "--min-steps", help="Train for at least this many optimizer steps (adds epochs on small data)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (calibration split, initialisation, shuffling)."),
) -> None:
    """Train on normal sessions, calibrate thresholds on held-out normal ones (k-fold), save a sealed model folder."""
    from enricher.anomaly.io import read_sessions
    from enricher.anomaly.autoencoder import AutoencoderDetector

    data = read_sessions(sessions)
    started = time.perf_counter()
    detector = AutoencoderDetector(
        arch=arch.value,
        window=window,
        epochs=epochs,
        min_steps=min_steps,
        calibration_folds=calibration_folds,
        calibration_fraction=calibration_fraction,
        seed=seed,
    ).fit(data, progress=True)
    detector.save_pretrained(
        model_dir,
        training_data={"sessions_file": str(sessions), "sessions": len(data)},
        metrics={"train_seconds": round(time.perf_counter() - started, 1)},
    )
    typer.echo(
        f"saved {detector.kind} to {model_dir} (threshold {detector.threshold:.4g}, "
        f"event threshold {detector.event_threshold:.4g})",
        err=True,
    )


@app.command("score")
def score(
    model_dir: Path = typer.Option(..., "--model-dir", exists=True, file_okay=False, help="A model folder written by 'autoencoder train'."),
    sessions: Path = typer.Option(..., "--sessions", exists=True, dir_okay=False, help="Sessions to score, DeepLog format."),
    output: Path | None = typer.Option(None, "--output", help="JSON Lines file to write (default: stdout)."),
) -> None:
    """Write one {"score", "is_anomaly"} JSON object per input session, in order."""
    from enricher.anomaly.io import read_sessions, write_scores
    from enricher.anomaly.autoencoder import AutoencoderDetector

    detector = AutoencoderDetector.from_pretrained(model_dir)
    results = detector.score_sessions(read_sessions(sessions))
    if output is None:
        write_scores(results, sys.stdout)
    else:
        with output.open("w", encoding="utf-8") as handle:
            write_scores(results, handle)
    flagged = sum(1 for _, bad in results if bad)
    typer.echo(f"scored {len(results)} sessions, {flagged} anomalous", err=True)
