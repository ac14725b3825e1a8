"""Log classification with a fine-tuned pretrained transformer encoder.

``LogClassifier`` is the model, ``ClassifierStage`` the cached, batched pipeline stage, and
``train_classifier`` fine-tunes, saves and seals a new model. Heavy libraries (torch, transformers) are
imported only when a model is built or loaded.
"""

from enricher.classify.model import DEFAULT_LABELS, ClassifierConfig, LogClassifier, resolve_inference_dtype
from enricher.classify.normalize import normalize_text
from enricher.classify.stage import ClassifierStage
from enricher.classify.training import TrainingConfig, build_examples, classification_metrics, train_classifier
from enricher.severity import normalize_severity

__all__ = [
    "DEFAULT_LABELS",
    "ClassifierConfig",
    "ClassifierStage",
    "LogClassifier",
    "TrainingConfig",
    "build_examples",
    "classification_metrics",
    "normalize_severity",
    "normalize_text",
    "resolve_inference_dtype",
    "train_classifier",
]
