"""Anomaly scoring: next-template sequence models and autoencoders with trained thresholds.

Estimators (``fit`` / ``score_sessions`` / ``save_pretrained`` / ``from_pretrained``) work on sessions of
template ids; the stages wrap them for the service (per-event verdicts, bounded per-session memory).
"""

from enricher.anomaly.autoencoder import AutoencoderDetector
from enricher.anomaly.baseline import NgramBaseline
from enricher.anomaly.sequence import SequenceDetector
from enricher.anomaly.stage import AutoencoderStage, SequenceStage

__all__ = ["AutoencoderDetector", "AutoencoderStage", "NgramBaseline", "SequenceDetector", "SequenceStage"]
