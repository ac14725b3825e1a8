"""``enricher autoencoder``: the older name of ``enricher anomaly`` for the autoencoders (``--arch``)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from enricher.cli import anomaly

app = typer.Typer(help="Autoencoders (LSTM-AE over event windows, VAE over template counts); same as 'enricher anomaly --kind autoencoder-lstm|autoencoder-vae'.")


class AutoencoderArch(str, Enum):
    lstm_ae = "lstm-ae"
    vae = "vae"


KINDS = {AutoencoderArch.lstm_ae: "autoencoder-lstm", AutoencoderArch.vae: "autoencoder-vae"}


@app.command("train")
def train(
    sessions: Path = anomaly.SessionsOption,
    model_dir: Path = anomaly.ModelDirOption,
    arch: AutoencoderArch = typer.Option(AutoencoderArch.lstm_ae, "--arch", help="lstm-ae: windows of events; vae: template-count vector per session."),
    window: Optional[int] = anomaly.WindowOption,
    epochs: Optional[int] = anomaly.EpochsOption,
    calibration_folds: Optional[int] = anomaly.FoldsOption,
    calibration_fraction: Optional[float] = anomaly.FractionOption,
    seed: Optional[int] = anomaly.SeedOption,
    time_budget: str = anomaly.BudgetOption,
    min_steps: Optional[int] = typer.Option(None, "--min-steps", hidden=True, help="Ignored (removed: small data now gets smaller batches, not more epochs)."),
) -> None:
    """Same as 'enricher anomaly train --kind autoencoder-lstm|autoencoder-vae'."""
    hyper = {"window": window, "epochs": epochs, "calibration_folds": calibration_folds,
             "calibration_fraction": calibration_fraction, "seed": seed,
             "time_budget_seconds": anomaly.parse_duration(time_budget)}
    anomaly.train_kind(KINDS[arch], sessions, model_dir, hyper)


@app.command("score")
def score(
    model_dir: Path = typer.Option(..., "--model-dir", exists=True, file_okay=False, help="A model folder written by 'autoencoder train'."),
    sessions: Path = typer.Option(..., "--sessions", exists=True, dir_okay=False, help="Sessions to score, DeepLog format."),
    output: Optional[Path] = typer.Option(None, "--output", help="JSON Lines file to write (default: stdout)."),
) -> None:
    """Same as 'enricher anomaly score'."""
    anomaly.score_folder(model_dir, sessions, output)


app.command("generate")(anomaly.generate_command)  # same as 'enricher anomaly generate'
