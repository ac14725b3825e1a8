"""``enricher sequence`` and ``enricher autoencoder``: the older names of ``enricher anomaly``, with ``--arch``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from enricher.cli import anomaly

sequence_app = typer.Typer(
    help="Next-template sequence models (DeepLog LSTM, Transformer); same as 'enricher anomaly --kind sequence-ARCH'."
)
autoencoder_app = typer.Typer(
    help="Autoencoders (LSTM-AE over event windows, VAE over template counts); same as "
    "'enricher anomaly --kind autoencoder-lstm|autoencoder-vae'."
)
MinStepsOption = typer.Option(
    None, "--min-steps", hidden=True, help="Ignored (removed: small data now gets smaller batches, not more epochs)."
)


class SequenceArch(str, Enum):
    lstm = "lstm"
    transformer = "transformer"


class AutoencoderArch(str, Enum):
    lstm_ae = "lstm-ae"
    vae = "vae"


AUTOENCODER_KINDS = {AutoencoderArch.lstm_ae: "autoencoder-lstm", AutoencoderArch.vae: "autoencoder-vae"}


@sequence_app.command("train")
def sequence_train(
    sessions: Path = anomaly.SessionsOption,
    model_dir: Path = anomaly.ModelDirOption,
    arch: SequenceArch = typer.Option(
        SequenceArch.lstm, "--arch", help="Network: DeepLog-style LSTM or Transformer encoder."
    ),
    window: Optional[int] = anomaly.WindowOption,
    epochs: Optional[int] = anomaly.EpochsOption,
    calibration_folds: Optional[int] = anomaly.FoldsOption,
    calibration_fraction: Optional[float] = anomaly.FractionOption,
    ensemble: Optional[bool] = typer.Option(
        None, "--ensemble/--no-ensemble", help="Keep the calibration-fold models and score with the mean "
        "probability of them and the full model (default: the model's)."
    ),
    seed: Optional[int] = anomaly.SeedOption,
    time_budget: str = anomaly.BudgetOption,
    min_steps: Optional[int] = MinStepsOption,
) -> None:
    """Same as 'enricher anomaly train --kind sequence-ARCH'."""
    hyper = anomaly.hyper_options(window, epochs, calibration_folds, calibration_fraction, seed, time_budget)
    anomaly.train_kind(f"sequence-{arch.value}", sessions, model_dir, {**hyper, "ensemble": ensemble})


@autoencoder_app.command("train")
def autoencoder_train(
    sessions: Path = anomaly.SessionsOption,
    model_dir: Path = anomaly.ModelDirOption,
    arch: AutoencoderArch = typer.Option(
        AutoencoderArch.lstm_ae, "--arch", help="lstm-ae: windows of events; vae: template-count vector per session."
    ),
    window: Optional[int] = anomaly.WindowOption,
    epochs: Optional[int] = anomaly.EpochsOption,
    calibration_folds: Optional[int] = anomaly.FoldsOption,
    calibration_fraction: Optional[float] = anomaly.FractionOption,
    seed: Optional[int] = anomaly.SeedOption,
    time_budget: str = anomaly.BudgetOption,
    min_steps: Optional[int] = MinStepsOption,
) -> None:
    """Same as 'enricher anomaly train --kind autoencoder-lstm|autoencoder-vae'."""
    hyper = anomaly.hyper_options(window, epochs, calibration_folds, calibration_fraction, seed, time_budget)
    anomaly.train_kind(AUTOENCODER_KINDS[arch], sessions, model_dir, hyper)


sequence_app.command("score")(anomaly.score)
autoencoder_app.command("score")(anomaly.score)
autoencoder_app.command("generate")(anomaly.generate)
