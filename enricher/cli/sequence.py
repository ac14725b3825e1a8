"""``enricher sequence``: train and score next-template sequence models on DeepLog-format sessions."""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path

import typer

app = typer.Typer(help="Next-template sequence models (DeepLog LSTM, Transformer) over sessions of template ids.")


class SequenceArch(str, Enum):
    lstm = "lstm"
    transformer = "transformer"


@app.command("train")
def train(
    sessions: Path = typer.Option(..., "--sessions", exists=True, dir_okay=False, help="Normal sessions, one per line, whitespace-separated template keys (DeepLog format)."),
    model_dir: Path = typer.Option(..., "--model-dir", help="Model folder to write (weights, config, sealed manifest)."),
    arch: SequenceArch = typer.Option(SequenceArch.lstm, "--arch", help="Network: DeepLog-style LSTM or Transformer encoder."),
    window: int = typer.Option(10, "--window", help="How many previous templates the model sees (h)."),
    epochs: int = typer.Option(40, "--epochs", help="Training epochs over the distinct (context, next) pairs."),
    calibration_folds: int = typer.Option(5, "--calibration-folds", help="Calibrate thresholds by k-fold on the normal sessions (k extra trainings; the saved model trains on all sessions). Below 2: hold out --calibration-fraction instead."),
    calibration_fraction: float = typer.Option(0.1, "--calibration-fraction", help="Share of sessions held out to calibrate the threshold when --calibration-folds is below 2."),
    min_steps: int = typer.Option(400, "--min-steps", help="Train for at least this many optimizer steps (adds epochs on small data)."),
    ensemble: bool = typer.Option(True, "--ensemble/--no-ensemble", help="Keep the calibration-fold models and score with the mean probability of them and the full model (steadier across seeds; k times slower scoring)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (calibration split, initialisation, shuffling)."),
) -> None:
    """Train on normal sessions, calibrate thresholds on held-out normal ones (k-fold), save a sealed model folder."""
    from enricher.anomaly.io import read_sessions
    from enricher.anomaly.sequence import SequenceDetector

    data = read_sessions(sessions)
    started = time.perf_counter()
    detector = SequenceDetector(
        arch=arch.value,
        window=window,
        epochs=epochs,
        min_steps=min_steps,
        calibration_folds=calibration_folds,
        calibration_fraction=calibration_fraction,
        ensemble=ensemble,
        seed=seed,
    ).fit(data, progress=True)
    detector.save_pretrained(
        model_dir,
        training_data={"sessions_file": str(sessions), "sessions": len(data)},
        metrics={"train_seconds": round(time.perf_counter() - started, 1)},
    )
    typer.echo(
        f"saved {detector.kind} to {model_dir} (threshold {detector.threshold:.4g}, "
        f"end threshold {detector.end_threshold:.4g})",
        err=True,
    )


@app.command("score")
def score(
    model_dir: Path = typer.Option(..., "--model-dir", exists=True, file_okay=False, help="A model folder written by 'sequence train'."),
    sessions: Path = typer.Option(..., "--sessions", exists=True, dir_okay=False, help="Sessions to score, DeepLog format."),
    output: Path | None = typer.Option(None, "--output", help="JSON Lines file to write (default: stdout)."),
) -> None:
    """Write one {"score", "is_anomaly"} JSON object per input session, in order."""
    from enricher.anomaly.io import read_sessions, write_scores
    from enricher.anomaly.sequence import SequenceDetector

    detector = SequenceDetector.from_pretrained(model_dir)
    results = detector.score_sessions(read_sessions(sessions))
    if output is None:
        write_scores(results, sys.stdout)
    else:
        with output.open("w", encoding="utf-8") as handle:
            write_scores(results, handle)
    flagged = sum(1 for _, bad in results if bad)
    typer.echo(f"scored {len(results)} sessions, {flagged} anomalous", err=True)
