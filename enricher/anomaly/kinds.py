"""The anomaly model kinds and the estimator class of each, without importing torch.

Config validation calls :func:`anomaly_kinds` to reject a misspelt kind cheaply; the service and the
CLI call :func:`~enricher.anomaly.base.estimator_class`, which imports the class (and torch) only then.
"""

from __future__ import annotations

# Default wall-clock budget of one fit, calibration included (``EstimatorConfig.time_budget_seconds``);
# here so that the command line shows it without importing torch.
DEFAULT_TIME_BUDGET_SECONDS = 300.0

# kind -> "module:class". Strings, so that reading the table imports no model code.
ANOMALY_KINDS: dict[str, str] = {
    "sequence-lstm": "enricher.anomaly.sequence:LstmSequenceDetector",
    "sequence-transformer": "enricher.anomaly.sequence:TransformerSequenceDetector",
    "autoencoder-lstm": "enricher.anomaly.lstm_autoencoder:LstmAutoencoderDetector",
    "autoencoder-vae": "enricher.anomaly.vae:VaeDetector",
}


def anomaly_kinds() -> list[str]:
    """Every anomaly model kind, in table order."""
    return list(ANOMALY_KINDS)
