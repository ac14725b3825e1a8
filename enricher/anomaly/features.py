"""Numeric per-event features for the LSTM autoencoder.

Computed from an event's text (its message when known, else its template). The DeepLog session format
has keys only, so text may be absent: then every feature is 0 and the autoencoder relies on the learned
key embedding alone. Results are cached per text, so repeated templates cost a dict lookup.
"""

from __future__ import annotations

import math
import re

import numpy as np

from enricher.caching import BoundedDict

N_FEATURES = 4  # log token count, distinct token ratio, log length, error keyword
ERROR_KEYWORDS = re.compile(
    r"\b(error|errors|fail|failed|failure|exception|fatal|critical|panic|refused|timeout|timed out|"
    r"denied|abort|aborted|corrupt|corrupted|unreachable|killed|severe)\b",
    re.IGNORECASE,
)


class FeatureExtractor:
    """Maps event text to a small float vector; a bounded per-instance cache keeps repeats cheap."""

    def __init__(self, cache_size: int = 50_000) -> None:
        self._cache: BoundedDict[str, np.ndarray] = BoundedDict(cache_size)

    def __call__(self, text: str | None) -> np.ndarray:
        if not text:
            return np.zeros(N_FEATURES, dtype=np.float32)
        cached = self._cache.get(text)
        if cached is None:
            tokens = text.split()
            features = [math.log1p(len(tokens)), len(set(tokens)) / len(tokens) if tokens else 0.0,
                        math.log1p(len(text)), 1.0 if ERROR_KEYWORDS.search(text) else 0.0]
            cached = self._cache.put(text, np.array(features, dtype=np.float32))
        return cached
