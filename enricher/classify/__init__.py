"""Log classification with a fine-tuned pretrained transformer encoder.

``LogClassifier`` is the model (load a sealed folder with ``from_pretrained``), ``ClassifierStage`` the
cached, batched pipeline stage, and ``train_classifier`` fine-tunes, saves and seals a new model.
Heavy libraries (torch, transformers) are imported only when a model is built or loaded.
"""

from enricher.classify.model import (
    DEFAULT_LABELS,
    KIND,
    ClassifierConfig,
    LogClassifier,
    default_encoder_dir,
    resolve_inference_dtype,
)
from enricher.classify.normalize import NORMALIZER_NAME, normalize_text
from enricher.classify.stage import CacheStats, ClassifierStage
from enricher.classify.training import (
    TrainingConfig,
    build_examples,
    classification_metrics,
    evaluate,
    fit,
    train_classifier,
)
from enricher.severity import normalize_severity

__all__ = [
    "DEFAULT_LABELS",
    "KIND",
    "NORMALIZER_NAME",
    "CacheStats",
    "ClassifierConfig",
    "ClassifierStage",
    "LogClassifier",
    "TrainingConfig",
    "build_examples",
    "classification_metrics",
    "default_encoder_dir",
    "evaluate",
    "fit",
    "normalize_severity",
    "normalize_text",
    "resolve_inference_dtype",
    "train_classifier",
]
