"""Non-learning baseline: a session is anomalous if it holds an n-gram of templates never seen in training.

Sessions are read as ``<bos> k1 ... kn <eos>``, so a session that starts or stops where no training
session did also counts as an unseen transition.
"""

from __future__ import annotations

from collections.abc import Sequence


class NgramBaseline:
    def __init__(self, n: int = 2) -> None:
        self.n = n
        self.seen: set[tuple[str, ...]] = set()

    def _grams(self, session: Sequence[str]) -> list[tuple[str, ...]]:
        tokens = ["<bos>", *session, "<eos>"]
        return [tuple(tokens[i : i + self.n]) for i in range(len(tokens) - self.n + 1)]

    def fit(self, sessions: Sequence[Sequence[str]]) -> "NgramBaseline":
        for session in sessions:
            self.seen.update(self._grams(session))
        return self

    def score_sessions(self, sessions: Sequence[Sequence[str]]) -> list[tuple[float, bool]]:
        """(number of unseen n-grams, is_anomaly) per session."""
        unseen = [sum(gram not in self.seen for gram in self._grams(session)) for session in sessions]
        return [(float(count), count > 0) for count in unseen]
