"""LSTM autoencoder over windows of events.

Each session is read as ``<bos> e1 ... en <eos>``; for every event (and the end) the window of the last
``window`` tokens, each a learned key embedding plus numeric features (see
:mod:`enricher.anomaly.features`), is encoded to a small code and rebuilt. A window's error is the key
cross-entropy plus the feature squared error; a session's score is its worst window's error.

``threshold_`` applies to whole sessions (every window, the end included); ``event_threshold_`` to
windows that end at an event, which is what the service scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from enricher.anomaly.base import AnomalyEstimator, EstimatorConfig, RunningSession, Scores, Sessions
from enricher.anomaly.features import N_FEATURES, FeatureExtractor
from enricher.anomaly.nets import LstmAutoencoder
from enricher.anomaly.training import TimeBudget, train_weighted, unique_rows
from enricher.anomaly.vocab import BOS, PAD, SPECIAL_TOKENS
from enricher.records import AnomalyEvent

BOS_MARK = SPECIAL_TOKENS[BOS]
FEATURE_DECIMALS = 4  # saved session memory: features rounded, they are z-scores
Item = tuple[str, list[float]]  # a remembered event: template id and normalised features


class LstmAutoencoderConfig(EstimatorConfig):
    window: int = Field(10, ge=1, description="events per window")
    window_error: Literal["mean", "max"] = Field(
        "max", description="score a window by its worst-rebuilt event, or the mean"
    )
    embed_dim: int = Field(16, ge=1)
    hidden: int = Field(64, ge=1)
    latent: int = Field(32, ge=1, description="size of the window code")


class LstmAutoencoderDetector(AnomalyEstimator):
    kind: ClassVar[str] = "autoencoder-lstm"
    family: ClassVar[str] = "autoencoder"
    config_class: ClassVar[type[EstimatorConfig]] = LstmAutoencoderConfig
    config: LstmAutoencoderConfig

    def __init__(self, **hyper: Any) -> None:
        super().__init__(**hyper)
        self.features = FeatureExtractor()
        self.feature_mean_ = np.zeros(N_FEATURES, dtype=np.float32)
        self.feature_std_ = np.ones(N_FEATURES, dtype=np.float32)

    # -- inputs -----------------------------------------------------------------------------------
    def event_features(self, texts: Sequence[str | None] | None, length: int) -> np.ndarray:
        """Normalised features of a session's events, (length, N_FEATURES); zeros when text is absent."""
        if texts is None or length == 0:
            return np.zeros((length, N_FEATURES), dtype=np.float32)
        raw = np.stack([self.features(t) for t in texts])
        has_text = np.array([bool(t) for t in texts])[:, None]
        return np.where(has_text, (raw - self.feature_mean_) / self.feature_std_, 0.0).astype(np.float32)

    def _fit_feature_scaling(self, data: Sessions) -> None:
        present = [self.features(t) for session in (data.texts or []) for t in session if t]
        if present:
            stacked = np.stack(present)
            self.feature_mean_ = stacked.mean(0).astype(np.float32)
            self.feature_std_ = np.maximum(stacked.std(0), 1e-3).astype(np.float32)

    def windows(self, session: Sequence[str], texts: Sequence[str | None] | None) -> tuple[np.ndarray, np.ndarray]:
        """Keys (n, w) and features (n, w, F) of the window ending at each event and at the end."""
        w = self.config.window
        tokens = self._vocab().tokens(session, with_end=True)
        keys = np.concatenate([np.full(w - 1, PAD, np.int64), np.asarray(tokens, np.int64)])
        feats = np.zeros((len(keys), N_FEATURES), dtype=np.float32)  # padding, <bos> and <eos> have none
        feats[w : w + len(session)] = self.event_features(texts, len(session))
        key_windows = np.lib.stride_tricks.sliding_window_view(keys, w)[1:]
        feat_windows = np.lib.stride_tricks.sliding_window_view(feats, w, axis=0)[1:].transpose(0, 2, 1)
        return key_windows, feat_windows

    def _stack_windows(self, data: Sessions) -> tuple[np.ndarray, np.ndarray]:
        texts: Sequence[Sequence[str | None] | None] = [None] * len(data) if data.texts is None else data.texts
        pairs = [self.windows(keys, session_texts) for keys, session_texts in zip(data.keys, texts)]
        if not pairs:
            w = self.config.window
            return np.zeros((0, w), np.int64), np.zeros((0, w, N_FEATURES), np.float32)
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    def _distinct_windows(
        self, keys: np.ndarray, feats: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
        """Keys and features of the distinct windows, the index of each window's, and how often each occurs."""
        w = self.config.window
        distinct, inverse, counts = unique_rows(np.column_stack([keys, feats.reshape(len(keys), -1)]))
        key_t = torch.from_numpy(distinct[:, :w].astype(np.int64))
        feat_t = torch.from_numpy(distinct[:, w:].astype(np.float32).reshape(len(distinct), w, N_FEATURES))
        return key_t, feat_t, inverse, counts

    # -- training ---------------------------------------------------------------------------------
    def _fit_networks(
        self, train: Sessions, *, seed: int, budget: TimeBudget, progress: bool, description: str
    ) -> tuple[list[float], int]:
        cfg = self.config
        torch.manual_seed(seed)
        self._fit_feature_scaling(train)
        network = self.network_ = self._build_network()
        key_t, feat_t, _, counts = self._distinct_windows(*self._stack_windows(train))

        def row_loss(k: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
            return network.errors(k, f, *network(k, f))

        history = train_weighted(
            network, [key_t, feat_t], torch.from_numpy(counts).float(), row_loss,
            epochs=cfg.epochs, batch_size=cfg.batch_size, min_batches=cfg.min_batches,
            learning_rate=cfg.learning_rate, seed=seed, progress=progress, description=description, budget=budget,
        )
        return history, len(counts)

    def _build_network(self) -> torch.nn.Module:
        cfg = self.config
        return LstmAutoencoder(len(self._vocab()), N_FEATURES, cfg.embed_dim, cfg.hidden, cfg.latent)

    def _calibration_scores(self, held_out: Sessions) -> Scores:
        """Per session: its worst window (the end included), and its worst window ending at an event."""
        errors = self.window_errors(*self._stack_windows(held_out))
        parts = np.split(errors, np.cumsum([len(s) + 1 for s in held_out.keys])[:-1]) if len(held_out) else []
        return {
            "session": np.array([p.max() for p in parts], dtype=np.float64),
            "event": np.array([p[:-1].max() if len(p) > 1 else 0.0 for p in parts], dtype=np.float64),
        }

    # -- scoring ----------------------------------------------------------------------------------
    @torch.no_grad()
    def window_errors(self, keys: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """Reconstruction error of each window; distinct windows go through the network once."""
        network = self.network_
        if network is None or len(keys) == 0:
            return np.zeros(len(keys))
        key_t, feat_t, inverse, _ = self._distinct_windows(keys, feats)
        errors = [network.errors(k, f, *network(k, f), reduce=self.config.window_error)
                  for k, f in zip(key_t.split(4096), feat_t.split(4096))]
        return torch.cat(errors).double().numpy()[inverse]

    # -- streaming (the service) ------------------------------------------------------------------
    def start_running(self) -> list[Item]:
        return [(BOS_MARK, [0.0] * N_FEATURES)]  # (template id, features) of the last window-1 events

    def score_running(
        self, sessions: Sequence[RunningSession], events: Sequence[AnomalyEvent]
    ) -> list[tuple[float, str | None]]:
        vocab, w = self._require_fitted(), self.config.window
        keys = np.full((len(events), w), PAD, dtype=np.int64)
        feats = np.zeros((len(events), w, N_FEATURES), dtype=np.float32)
        for row, (session, event) in enumerate(zip(sessions, events)):
            feature = self.event_features([event.message or event.template], 1)[0].tolist()
            # (the last w: a session's first window of one event holds no <bos>)
            items = [*session.memory, (event.template_id, feature)][-w:]
            keys[row, w - len(items) :] = [BOS if k == BOS_MARK else vocab.id(k) for k, _ in items]
            feats[row, w - len(items) :] = [f for _, f in items]
            session.memory = items[-(w - 1) :] if w > 1 else []
        errors = self.window_errors(keys, feats)
        return self._reconstruction_verdicts(sessions, events, errors, f"last {w} events")

    def running_to_json(self, memory: list[Item], intern: Callable[[str], int]) -> list[list[float]]:
        return [[intern(key), *(round(float(x), FEATURE_DECIMALS) for x in feature)] for key, feature in memory]

    def running_from_json(self, saved: list[list[float]], lookup: Callable[[int], str]) -> list[Item]:
        items = [(lookup(int(item[0])), [float(x) for x in item[1:]]) for item in saved]
        keep = self.config.window - 1
        return items[-keep:] if keep else []

    # -- persistence ------------------------------------------------------------------------------
    def _fitted_arrays(self) -> dict[str, np.ndarray]:
        return {"feature_mean": self.feature_mean_, "feature_std": self.feature_std_}

    def _restore(self, folder: Path, fitted: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.feature_mean_ = np.asarray(arrays["feature_mean"], dtype=np.float32)
        self.feature_std_ = np.asarray(arrays["feature_std"], dtype=np.float32)
        self.network_ = self._load_network(folder, "model")

    @classmethod
    def _legacy(cls, config: dict[str, Any], fitted: dict[str, Any]) -> dict[str, np.ndarray]:
        return {name: np.asarray(config.pop(name), dtype=np.float32) for name in ("feature_mean", "feature_std")}
