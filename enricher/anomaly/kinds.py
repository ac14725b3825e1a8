"""The anomaly model kinds and the estimator class of each, without importing torch.

Config validation calls :func:`anomaly_kinds` to reject a misspelt kind cheaply; the service and the
CLI call :func:`estimator_class`, which imports the class (and torch) only then.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from enricher.anomaly.base import AnomalyEstimator

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


def estimator_class(kind: str) -> type[AnomalyEstimator]:
    """The estimator class of ``kind``; ValueError names the known kinds."""
    try:
        module, name = ANOMALY_KINDS[kind].split(":")
    except KeyError:
        raise ValueError(f"unknown anomaly model kind {kind!r}; known: {', '.join(ANOMALY_KINDS)}") from None
    cls: type[AnomalyEstimator] = getattr(import_module(module), name)
    return cls
