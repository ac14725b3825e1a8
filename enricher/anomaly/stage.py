"""Service stages: score a batch of events against per-session memory, one model call per batch.

Each stage keeps, for every session key it has seen recently, just what its model needs (the last few
template ids, or template counts) in an LRU map bounded by ``max_sessions``; the least recently active
session is dropped first (if it comes back it is treated as a new session). ``to_state``/``load_state``
turn that memory into JSON and back so session windows survive a restart.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from enricher.anomaly.autoencoder import UNSEEN_SCORE as AE_UNSEEN
from enricher.anomaly.autoencoder import AutoencoderDetector
from enricher.anomaly.features import N_FEATURES
from enricher.anomaly.sequence import UNSEEN_SCORE as SEQ_UNSEEN
from enricher.anomaly.sequence import SequenceDetector
from enricher.anomaly.vocab import BOS, PAD, SPECIAL_TOKENS, UNK
from enricher.records import AnomalyEvent, AnomalyVerdict

STATE_VERSION = 1
BOS_MARK = SPECIAL_TOKENS[BOS]
Memory = TypeVar("Memory")


class _SessionMemory(Generic[Memory]):
    """An LRU map from session key to whatever a stage remembers of that session."""

    def __init__(self, max_sessions: int) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.max_sessions = max_sessions
        self.sessions: OrderedDict[str, Memory] = OrderedDict()

    def get(self, key: str, default: Memory) -> Memory:
        if key in self.sessions:
            self.sessions.move_to_end(key)
            return self.sessions[key]
        self.put(key, default)
        return default

    def put(self, key: str, memory: Memory) -> None:
        self.sessions[key] = memory
        self.sessions.move_to_end(key)
        while len(self.sessions) > self.max_sessions:
            self.sessions.popitem(last=False)

    def __len__(self) -> int:
        return len(self.sessions)


def _check_state(state: dict[str, Any], stage: str) -> None:
    if state.get("stage") != stage or state.get("version") != STATE_VERSION:
        raise ValueError(f"not a saved {stage} state (version {STATE_VERSION}): {state.get('stage')!r}")


class SequenceStage:
    """Per-event next-template verdicts from a :class:`SequenceDetector`."""

    def __init__(self, detector: SequenceDetector, model_version: str, max_sessions: int = 100_000) -> None:
        self.detector = detector
        self.model_version = model_version
        # session key -> [last template ids (the first may be BOS_MARK), session score so far: the sum of
        # its events' surprises, or (top_g / aggregate "max") the highest event score]
        self.memory: _SessionMemory[list[Any]] = _SessionMemory(max_sessions)

    def _token(self, key: str) -> int:
        return BOS if key == BOS_MARK else self.detector._require_vocab().id(key)

    def score(self, events: Sequence[AnomalyEvent]) -> list[AnomalyVerdict]:
        window = self.detector.config.window
        contexts = np.full((len(events), window), PAD, dtype=np.int64)
        targets = np.zeros(len(events), dtype=np.int64)
        histories: list[list[str]] = []
        for row, event in enumerate(events):
            memory = self.memory.get(event.session_key, [[BOS_MARK], 0.0])
            history = memory[0]
            histories.append(list(history))
            tokens = [self._token(k) for k in history]
            contexts[row, window - len(tokens) :] = tokens
            targets[row] = self._token(event.template_id)
            memory[0] = (history + [event.template_id])[-window:]
        scores = self.detector.score_rows(contexts, targets)
        values = self.detector.event_score(scores)
        verdicts = []
        for row, event in enumerate(events):
            memory = self.memory.get(event.session_key, [[BOS_MARK], 0.0])
            value = float(values[row])
            if self._sums and targets[row] != UNK:
                # The running surprise of the session so far is what the session threshold applies to.
                memory[1] += value
                value = memory[1] if value > 0 else 0.0
            verdict = self._verdict(event, histories[row], targets[row], value, scores, row)
            if not self._sums:
                memory[1] = max(memory[1], verdict.score)
            verdicts.append(verdict)
        return verdicts

    @property
    def _sums(self) -> bool:
        """Whether a session's score is the sum of its events' surprises (else the highest event score)."""
        cfg = self.detector.config
        return cfg.verdict == "probability" and cfg.aggregate == "sum"

    def _verdict(
        self, event: AnomalyEvent, history: list[str], target: int, value: float, scores: Any, row: int
    ) -> AnomalyVerdict:
        det, threshold = self.detector, self.detector.threshold
        if target == UNK:
            return AnomalyVerdict(
                SEQ_UNSEEN, threshold, True, self.model_version, [f"unseen template {event.template_id}"]
            )
        if value <= threshold:
            return AnomalyVerdict(value, threshold, False, self.model_version)
        after = " ".join(k for k in history[-3:] if k != BOS_MARK) or "session start"
        expected = ", ".join(det._require_vocab().key(int(t)) for t in scores.top[row][:3])
        rank = int(scores.rank[row])
        if det.config.verdict == "top_g":
            detail = f"rank {rank} > top-{det.config.top_g}"
        elif self._sums:
            detail = f"rank {rank}, p={np.exp(-scores.nll[row]):.2g}; session surprise {value:.3g} > {threshold:.3g}"
        else:
            detail = f"rank {rank}, surprise {value:.3g} > {threshold:.3g}"
        reason = f"template {event.template_id} unexpected after {after} ({detail}; expected {expected})"
        return AnomalyVerdict(value, threshold, True, self.model_version, [reason])

    def session_verdict(self, session_key: str) -> tuple[float, bool] | None:
        """Score of a remembered session so far (running surprise or highest event score) and its verdict."""
        memory = self.memory.sessions.get(session_key)
        if memory is None:
            return None
        return float(memory[1]), float(memory[1]) > self.detector.threshold

    def to_state(self) -> dict[str, Any]:
        return {
            "stage": "sequence",
            "version": STATE_VERSION,
            "model_version": self.model_version,
            "sessions": [[key, history, score] for key, (history, score) in self.memory.sessions.items()],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        _check_state(state, "sequence")
        window = self.detector.config.window
        for key, history, score in state["sessions"]:
            self.memory.put(key, [list(history)[-window:], float(score)])


class AutoencoderStage:
    """Per-event verdicts from an :class:`AutoencoderDetector`.

    lstm-ae: the window of the session's last ``window`` events, ending at this event. vae: the session's
    running template counts (an incomplete session), against the ``event`` threshold calibrated on
    prefixes of normal sessions.
    """

    def __init__(
        self, detector: AutoencoderDetector, model_version: str, max_sessions: int = 100_000
    ) -> None:
        self.detector = detector
        self.model_version = model_version
        # lstm-ae: [[template id, features] of the last window-1 events (first may be BOS_MARK), max score]
        # vae: [{template id: count}, max score]
        self.memory: _SessionMemory[list[Any]] = _SessionMemory(max_sessions)

    @property
    def _is_vae(self) -> bool:
        return self.detector.config.arch == "vae"

    def _new_memory(self) -> list[Any]:
        return [{}, 0.0] if self._is_vae else [[[BOS_MARK, [0.0] * N_FEATURES]], 0.0]

    def score(self, events: Sequence[AnomalyEvent]) -> list[AnomalyVerdict]:
        det = self.detector
        vocab = det._require_vocab()
        errors = self._vae_errors(events) if self._is_vae else self._window_errors(events)
        verdicts = []
        for event, error in zip(events, errors):
            memory = self.memory.get(event.session_key, self._new_memory())
            if event.template_id not in vocab:
                verdict = AnomalyVerdict(
                    AE_UNSEEN, det.event_threshold, True, self.model_version,
                    [f"unseen template {event.template_id}"],
                )
            elif error > det.event_threshold:
                what = "running template counts" if self._is_vae else f"last {det.config.window} events"
                reason = (
                    f"{what} of session ending in template {event.template_id} reconstruct poorly "
                    f"(error {error:.3g} > {det.event_threshold:.3g})"
                )
                verdict = AnomalyVerdict(float(error), det.event_threshold, True, self.model_version, [reason])
            else:
                verdict = AnomalyVerdict(float(error), det.event_threshold, False, self.model_version)
            memory[1] = max(memory[1], verdict.score)
            verdicts.append(verdict)
        return verdicts

    def _window_errors(self, events: Sequence[AnomalyEvent]) -> np.ndarray:
        det, w = self.detector, self.detector.config.window
        vocab = det._require_vocab()
        keys = np.full((len(events), w), PAD, dtype=np.int64)
        feats = np.zeros((len(events), w, N_FEATURES), dtype=np.float32)
        for row, event in enumerate(events):
            memory = self.memory.get(event.session_key, self._new_memory())
            text = event.message or event.template
            feature = det.event_features([text], 1)[0].tolist()
            items = memory[0] + [[event.template_id, feature]]
            keys[row, w - len(items) :] = [BOS if k == BOS_MARK else vocab.id(k) for k, _ in items]
            feats[row, w - len(items) :] = [f for _, f in items]
            memory[0] = items[-(w - 1) :] if w > 1 else []
        return det.window_errors(keys, feats)

    def _vae_errors(self, events: Sequence[AnomalyEvent]) -> np.ndarray:
        det = self.detector
        vocab = det._require_vocab()
        vectors = []
        for event in events:
            counts = self.memory.get(event.session_key, self._new_memory())[0]
            counts[event.template_id] = counts.get(event.template_id, 0) + 1
            token_counts: dict[int, int] = {}
            for key, count in counts.items():
                token = vocab.id(key)
                token_counts[token] = token_counts.get(token, 0) + count
            vectors.append(det.count_vector(token_counts, complete=False))
        return det.vector_errors(np.stack(vectors), running=True) if vectors else np.zeros(0)

    def session_verdict(self, session_key: str) -> tuple[float, bool] | None:
        memory = self.memory.sessions.get(session_key)
        if memory is None:
            return None
        return float(memory[1]), float(memory[1]) > self.detector.event_threshold

    def to_state(self) -> dict[str, Any]:
        return {
            "stage": f"autoencoder-{self.detector.config.arch}",
            "version": STATE_VERSION,
            "model_version": self.model_version,
            "sessions": [[key, memory, score] for key, (memory, score) in self.memory.sessions.items()],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        _check_state(state, f"autoencoder-{self.detector.config.arch}")
        for key, memory, score in state["sessions"]:
            restored = dict(memory) if self._is_vae else [list(item) for item in memory]
            self.memory.put(key, [restored, float(score)])
