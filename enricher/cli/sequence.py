"""``enricher sequence``: the older name of ``enricher anomaly`` for the sequence models (``--arch``)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from enricher.cli import anomaly

app = typer.Typer(help="Next-template sequence models (DeepLog LSTM, Transformer); same as 'enricher anomaly --kind sequence-ARCH'.")


class SequenceArch(str, Enum):
    lstm = "lstm"
    transformer = "transformer"


@app.command("train")
def train(
    sessions: Path = anomaly.SessionsOption,
    model_dir: Path = anomaly.ModelDirOption,
    arch: SequenceArch = typer.Option(SequenceArch.lstm, "--arch", help="Network: DeepLog-style LSTM or Transformer encoder."),
    window: Optional[int] = anomaly.WindowOption,
    epochs: Optional[int] = anomaly.EpochsOption,
    calibration_folds: Optional[int] = anomaly.FoldsOption,
    calibration_fraction: Optional[float] = anomaly.FractionOption,
    ensemble: Optional[bool] = typer.Option(None, "--ensemble/--no-ensemble", help="Keep the calibration-fold models and score with the mean probability of them and the full model (default: the model's)."),
    seed: Optional[int] = anomaly.SeedOption,
    time_budget: str = anomaly.BudgetOption,
    min_steps: Optional[int] = typer.Option(None, "--min-steps", hidden=True, help="Ignored (removed: small data now gets smaller batches, not more epochs)."),
) -> None:
    """Same as 'enricher anomaly train --kind sequence-ARCH'."""
    hyper = {"window": window, "epochs": epochs, "calibration_folds": calibration_folds,
             "calibration_fraction": calibration_fraction, "ensemble": ensemble, "seed": seed,
             "time_budget_seconds": anomaly.parse_duration(time_budget)}
    anomaly.train_kind(f"sequence-{arch.value}", sessions, model_dir, hyper)


@app.command("score")
def score(
    model_dir: Path = typer.Option(..., "--model-dir", exists=True, file_okay=False, help="A model folder written by 'sequence train'."),
    sessions: Path = typer.Option(..., "--sessions", exists=True, dir_okay=False, help="Sessions to score, DeepLog format."),
    output: Optional[Path] = typer.Option(None, "--output", help="JSON Lines file to write (default: stdout)."),
) -> None:
    """Same as 'enricher anomaly score'."""
    anomaly.score_folder(model_dir, sessions, output)
