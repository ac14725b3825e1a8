"""Anomaly scoring: next-template sequence models and autoencoders with trained thresholds.

Every algorithm is one :class:`~enricher.anomaly.base.AnomalyEstimator` subclass, listed by kind in
:data:`~enricher.anomaly.kinds.ANOMALY_KINDS`; :class:`AnomalyStage` wraps any of them for the service.
Names are imported lazily, so ``enricher.anomaly.kinds`` (config validation) does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from enricher.anomaly.kinds import ANOMALY_KINDS, anomaly_kinds

if TYPE_CHECKING:
    from enricher.anomaly.base import AnomalyEstimator, estimator_class
    from enricher.anomaly.baseline import NgramBaseline
    from enricher.anomaly.lstm_autoencoder import LstmAutoencoderDetector
    from enricher.anomaly.sequence import LstmSequenceDetector, SequenceDetector, TransformerSequenceDetector
    from enricher.anomaly.stage import AnomalyStage
    from enricher.anomaly.vae import VaeDetector

_LAZY = {
    "AnomalyEstimator": "enricher.anomaly.base",
    "estimator_class": "enricher.anomaly.base",
    "AnomalyStage": "enricher.anomaly.stage",
    "NgramBaseline": "enricher.anomaly.baseline",
    "SequenceDetector": "enricher.anomaly.sequence",
    "LstmSequenceDetector": "enricher.anomaly.sequence",
    "TransformerSequenceDetector": "enricher.anomaly.sequence",
    "LstmAutoencoderDetector": "enricher.anomaly.lstm_autoencoder",
    "VaeDetector": "enricher.anomaly.vae",
}

__all__ = ["ANOMALY_KINDS", "anomaly_kinds", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'enricher.anomaly' has no attribute {name!r}")
