"""The classification stage of the enrichment pipeline: batched, cached per template.

Logs repeat: thousands of lines share a handful of templates. The service passes the template text as
the text and the template id as the cache key, so a stream costs about one model call per distinct
template; without a key the normalised text is the key, so repeated raw messages are cached too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from enricher.caching import LRUDict
from enricher.classify.model import LogClassifier
from enricher.records import Classification


@dataclass(slots=True)
class CacheStats:
    model_calls: int = 0  # texts run through the model (each distinct uncached key once per batch)


class ClassifierStage:
    """Classify texts with an LRU cache in front of the model."""

    def __init__(
        self,
        classifier: LogClassifier,
        model_version: str,
        cache_size: int = 100_000,
        batch_size: int = 64,
    ) -> None:
        self.classifier = classifier
        self.model_version = model_version
        self.batch_size = batch_size
        self.stats = CacheStats()
        self._cache: LRUDict[str, Classification] = LRUDict(cache_size)
        self._lock = threading.Lock()  # the service may classify from more than one worker thread

    def classify(self, texts: Sequence[str], cache_keys: Sequence[str | None] | None = None) -> list[Classification]:
        """One Classification per text, in order; the model runs once per distinct uncached key."""
        if cache_keys is not None and len(cache_keys) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(cache_keys)} cache keys")
        keys = [key or self.classifier.normalize(text) for text, key in zip(texts, cache_keys or [None] * len(texts))]
        with self._lock:
            found = {key: hit for key in dict.fromkeys(keys) if (hit := self._cache.get(key)) is not None}
            missing: dict[str, str] = {}
            for key, text in zip(keys, texts, strict=True):
                if key not in found:
                    missing.setdefault(key, text)  # the first text seen stands for its key
        if missing:
            predictions = self.classifier.predict(list(missing.values()), batch_size=self.batch_size)
            computed = dict(zip(missing, predictions, strict=True))
            with self._lock:
                self.stats.model_calls += len(computed)
                for key, classification in computed.items():
                    self._cache.put(key, classification)
            found.update(computed)
        # Copies, so a caller that mutates a record cannot corrupt the cache.
        return [Classification(found[key].label, found[key].confidence) for key in keys]
