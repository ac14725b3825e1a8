"""Autoencoder detectors: an LSTM autoencoder over windows of events and a VAE over event counts.

``lstm-ae``: each session is read as ``<bos> e1 ... en <eos>``; for every event (and the end) the window
of the last ``window`` tokens, each a learned key embedding plus numeric features (see
:mod:`enricher.anomaly.features`), is encoded to a small code and rebuilt. A window's error is the key
cross-entropy plus the feature squared error; a session's score is its worst window's error.

``vae``: a session is a vector of log-scaled template counts plus a "complete" flag. The session VAE
trains on complete sessions (flag 1) and scores whole sessions offline, where a truncated session must
look wrong. A running session in the service is incomplete by nature, so with ``train_prefixes`` a second
VAE (``prefix.safetensors``) trains on every prefix of the sessions (flag 0) and gives the per-event
verdicts, against an ``event`` threshold calibrated on prefixes of held-out normal sessions. Inputs are
standardised per template (with a floor on the spread), so a template every normal session holds weighs
a lot when it is missing.

Thresholds are calibrated on *normal* sessions only, out of fold like the sequence models: with
``calibration_folds`` >= 2 each fold is scored by a model trained on the other folds, and the
``calibration_quantile`` of the pooled scores (times ``threshold_margin``) is the threshold; the saved
model then trains on all sessions. (A model scores its own training sessions too low, so a threshold
from them flags new normal sessions.) With ``calibration_folds`` < 2 one ``calibration_fraction`` slice
is held out instead. ``event`` is the threshold for windows/prefixes that end at an
event (what the service scores), ``session`` for whole sessions. Templates never seen in training make a
session anomalous whatever the reconstruction error ("unseen template", score ``UNSEEN_SCORE``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, Field

from enricher.anomaly.features import N_FEATURES, FeatureExtractor
from enricher.anomaly.training import (
    CONFIG_FILE,
    fold_assignment,
    load_weights,
    quantile_threshold,
    save_weights,
    split_calibration,
    train_weighted,
    unique_rows,
)
from enricher.anomaly.vocab import BOS, EOS, PAD, UNK, Vocab
from enricher.registry import verify_model_folder, write_manifest

UNSEEN_SCORE = 1e6
PREFIX_WEIGHTS_FILE = "prefix.safetensors"
KINDS = {"lstm-ae": "autoencoder-lstm", "vae": "autoencoder-vae"}
EventTexts = Sequence[Sequence[str | None]]


class AutoencoderConfig(BaseModel):
    arch: Literal["lstm-ae", "vae"] = "lstm-ae"
    window: int = Field(10, ge=1, description="lstm-ae: events per window")
    window_error: Literal["mean", "max"] = Field(
        "max", description="lstm-ae: score a window by its worst-rebuilt event, or the mean"
    )
    embed_dim: int = 16
    hidden: int = 64
    latent: int = Field(32, description="lstm-ae: size of the window code")
    vae_latent: int = Field(4, description="vae: size of the latent space (small: it must not rebuild anything)")
    beta: float = Field(0.1, ge=0.0, description="vae: weight of the KL term")
    train_prefixes: bool = Field(
        True,
        description="vae: also train a second VAE on running sessions (prefixes) for the service's "
        "per-event verdicts; the session VAE still sees complete sessions only",
    )
    std_floor: float = Field(
        0.25, gt=0.0, description="vae: smallest per-template spread when standardising count vectors"
    )
    epochs: int = 40
    min_steps: int = Field(
        400, ge=0, description="at least this many optimizer steps (small data has few batches per epoch)"
    )
    batch_size: int = 256
    learning_rate: float = 3e-3
    calibration_folds: int = Field(
        5, ge=0,
        description="k-fold calibration on normal sessions (k extra trainings; the saved model trains on "
        "all sessions); < 2: hold out one calibration_fraction slice instead",
    )
    calibration_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    calibration_quantile: float = Field(0.995, ge=0.0, le=1.0)
    threshold_margin: float = Field(1.0, gt=0.0)
    seed: int = 0


class AutoencoderDetector:
    """Estimator API: ``fit``, ``score_sessions``, ``save_pretrained``/``from_pretrained``."""

    def __init__(self, arch: Literal["lstm-ae", "vae"] = "lstm-ae", **hyper: Any) -> None:
        self.config = AutoencoderConfig(arch=arch, **hyper)
        self.vocab: Vocab | None = None
        self.model: torch.nn.Module | None = None
        self.features = FeatureExtractor()
        self.feature_mean = np.zeros(N_FEATURES, dtype=np.float32)
        self.feature_std = np.ones(N_FEATURES, dtype=np.float32)
        self.input_mean: np.ndarray | None = None  # vae: per-dimension standardisation
        self.input_std: np.ndarray | None = None
        self.prefix_model: torch.nn.Module | None = None  # vae: running sessions (service verdicts)
        self.prefix_mean: np.ndarray | None = None
        self.prefix_std: np.ndarray | None = None
        self.threshold = 0.0  # sessions
        self.event_threshold = 0.0  # windows / running sessions ending at an event
        self.metrics: dict[str, Any] = {}

    @property
    def kind(self) -> str:
        return KINDS[self.config.arch]

    # -- inputs -----------------------------------------------------------------------------------
    def _require_vocab(self) -> Vocab:
        if self.vocab is None or self.model is None:
            raise RuntimeError("the detector is not fitted; call fit() or from_pretrained()")
        return self.vocab

    def event_features(self, texts: Sequence[str | None] | None, length: int) -> np.ndarray:
        """Normalised features of a session's events, (length, N_FEATURES); zeros when text is absent."""
        if texts is None:
            return np.zeros((length, N_FEATURES), dtype=np.float32)
        raw = np.stack([self.features(t) for t in texts]) if length else np.zeros((0, N_FEATURES))
        has_text = np.array([bool(t) for t in texts])[:, None] if length else np.zeros((0, 1), bool)
        return np.where(has_text, (raw - self.feature_mean) / self.feature_std, 0.0).astype(np.float32)

    def _fit_feature_scaling(self, texts: EventTexts | None) -> None:
        present = [self.features(t) for session in (texts or []) for t in session if t]
        if present:
            stacked = np.stack(present)
            self.feature_mean = stacked.mean(0).astype(np.float32)
            self.feature_std = np.maximum(stacked.std(0), 1e-3).astype(np.float32)

    def lstm_windows(
        self, session: Sequence[str], texts: Sequence[str | None] | None, with_end: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Keys (n, w) and features (n, w, F) of the window ending at each event (and at the end)."""
        w = self.config.window
        tokens = [BOS, *self._require_vocab().ids(session), *([EOS] if with_end else [])]
        feats = np.zeros((len(tokens), N_FEATURES), dtype=np.float32)
        feats[1 : 1 + len(session)] = self.event_features(texts, len(session))
        keys = np.concatenate([np.full(w - 1, PAD, np.int64), np.asarray(tokens, np.int64)])
        feats = np.concatenate([np.zeros((w - 1, N_FEATURES), np.float32), feats])
        key_windows = np.lib.stride_tricks.sliding_window_view(keys, w)[1:]
        feat_windows = np.lib.stride_tricks.sliding_window_view(feats, w, axis=0)[1:].transpose(0, 2, 1)
        return key_windows, feat_windows

    def count_vector(self, token_counts: dict[int, int], complete: bool) -> np.ndarray:
        vector = np.zeros(len(self._require_vocab()) + 1, dtype=np.float32)
        for token, count in token_counts.items():
            vector[token] = np.log1p(count)
        vector[-1] = 1.0 if complete else 0.0
        return vector

    def _vae_vectors(self, session: Sequence[str], prefixes: bool) -> np.ndarray:
        """Count vectors of every running prefix (flag 0, with ``prefixes``) and then of the whole session."""
        ids = self._require_vocab().ids(session)
        counts: dict[int, int] = {}
        rows = []
        for token in ids:
            counts[token] = counts.get(token, 0) + 1
            if prefixes:
                rows.append(self.count_vector(counts, complete=False))
        rows.append(self.count_vector(counts, complete=True))
        return np.stack(rows)

    # -- training ---------------------------------------------------------------------------------
    def fit(
        self,
        sessions: Sequence[Sequence[str]],
        event_texts: EventTexts | None = None,
        progress: bool = False,
    ) -> "AutoencoderDetector":
        cfg = self.config
        torch.manual_seed(cfg.seed)
        use_folds = cfg.calibration_folds >= 2 and len(sessions) >= 2 * cfg.calibration_folds
        if use_folds:
            train_idx, calibration_idx = np.arange(len(sessions)), np.zeros(0, dtype=np.int64)
        else:
            train_idx, calibration_idx = split_calibration(len(sessions), cfg.calibration_fraction, cfg.seed)
        pooled = self._out_of_fold_scores(sessions, event_texts, progress) if use_folds else None
        train = [sessions[i] for i in train_idx]
        train_texts = [event_texts[i] for i in train_idx] if event_texts is not None else None
        history, n_rows = self._fit_models(train, train_texts, progress)
        if pooled is None:
            held_out = [sessions[i] for i in calibration_idx]
            held_texts = [event_texts[i] for i in calibration_idx] if event_texts is not None else None
            if not held_out:
                raise ValueError("threshold calibration needs calibration_folds >= 2 or calibration_fraction > 0")
            pooled = self._raw_scores(held_out, held_texts)
        self._set_thresholds(pooled)
        self.metrics = {
            "train_sessions": len(train),
            "calibration_sessions": len(pooled[0]),
            "calibration": f"{cfg.calibration_folds}-fold" if use_folds else "held-out slice",
            "distinct_training_rows": n_rows,
            "final_loss": history[-1] if history else None,
            **self.metrics,
        }
        return self

    def _fit_models(
        self, train: Sequence[Sequence[str]], texts: EventTexts | None, progress: bool
    ) -> tuple[list[float], int]:
        """Vocabulary, feature scaling and network(s) from these sessions (no calibration)."""
        self.vocab = Vocab.build(train)
        self._fit_feature_scaling(texts)
        self.model = self._build_model()
        if self.config.arch == "lstm-ae":
            return self._fit_lstm(train, texts, progress)
        return self._fit_vae(train, progress)

    def _out_of_fold_scores(
        self, sessions: Sequence[Sequence[str]], texts: EventTexts | None, progress: bool
    ) -> tuple[list[float], list[float]]:
        """Session and streaming scores of every session from a model that did not train on it (k-fold).

        A model scores the sessions it trained on lower than new ones (HDFS: many normal sessions are
        one of a kind), so a threshold from its own training sessions flags new normal sessions.
        """
        k = self.config.calibration_folds
        fold_of = fold_assignment(len(sessions), k, self.config.seed)
        session_scores: list[float] = []
        event_scores: list[float] = []
        for fold in range(k):
            helper = AutoencoderDetector(**{**self.config.model_dump(), "calibration_folds": 0})
            inside = [i for i in range(len(sessions)) if fold_of[i] != fold]
            helper._fit_models(
                [sessions[i] for i in inside], [texts[i] for i in inside] if texts is not None else None, progress
            )
            vocab = helper._vocab_only()
            # Sessions with a template this fold never saw are left out: the final model knows it.
            held = [i for i in range(len(sessions)) if fold_of[i] == fold and all(key in vocab for key in sessions[i])]
            fold_sessions, fold_events = helper._raw_scores(
                [sessions[i] for i in held], [texts[i] for i in held] if texts is not None else None
            )
            session_scores += fold_sessions
            event_scores += fold_events
        return session_scores, event_scores

    def _build_model(self) -> torch.nn.Module:
        from enricher.anomaly.nets import CountVAE, LstmAutoencoder

        cfg, size = self.config, len(self._vocab_only())
        if cfg.arch == "lstm-ae":
            return LstmAutoencoder(size, N_FEATURES, cfg.embed_dim, cfg.hidden, cfg.latent, cfg.window)
        return CountVAE(size + 1, cfg.hidden, cfg.vae_latent)

    def _vocab_only(self) -> Vocab:
        if self.vocab is None:
            raise RuntimeError("the detector has no vocabulary yet")
        return self.vocab

    def _fit_lstm(
        self, train: Sequence[Sequence[str]], texts: EventTexts | None, progress: bool
    ) -> tuple[list[float], int]:
        keys, feats = self._stack_windows(train, texts, with_end=True)
        w = self.config.window
        distinct, _, counts = unique_rows(np.column_stack([keys, feats.reshape(len(keys), -1)]))
        key_t = torch.from_numpy(distinct[:, :w].astype(np.int64))
        feat_t = torch.from_numpy(distinct[:, w:].astype(np.float32).reshape(len(distinct), w, N_FEATURES))
        model = self.model
        assert model is not None

        def row_loss(k: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
            return model.errors(k, f, *model(k, f))

        history = self._train(model, [key_t, feat_t], counts, row_loss, progress)
        return history, len(distinct)

    def _fit_vae(self, train: Sequence[Sequence[str]], progress: bool) -> tuple[list[float], int]:
        whole = np.stack([self._vae_vectors(s, prefixes=False)[-1] for s in train])
        assert self.model is not None
        self.input_mean, self.input_std, history, n_rows = self._fit_count_vae(self.model, whole, progress)
        if self.config.train_prefixes:
            prefixes = np.concatenate([self._vae_vectors(s, prefixes=True)[:-1] for s in train if s])
            self.prefix_model = self._build_model()
            self.prefix_mean, self.prefix_std, _, _ = self._fit_count_vae(self.prefix_model, prefixes, progress)
        return history, n_rows

    def _fit_count_vae(
        self, model: torch.nn.Module, vectors: np.ndarray, progress: bool
    ) -> tuple[np.ndarray, np.ndarray, list[float], int]:
        # Standardise so that a template every normal session has (low spread) weighs more when missing.
        mean = vectors.mean(0).astype(np.float32)
        std = np.maximum(vectors.std(0), self.config.std_floor).astype(np.float32)
        distinct, _, counts = unique_rows(((vectors - mean) / std).astype(np.float32))
        beta = self.config.beta

        def row_loss(x: torch.Tensor) -> torch.Tensor:
            rebuilt, mu, log_var = model(x)
            return model.reconstruction_error(x, rebuilt) + beta * model.kl(mu, log_var)

        history = self._train(model, [torch.from_numpy(distinct)], counts, row_loss, progress)
        return mean, std, history, len(distinct)

    def _train(self, model, tensors, counts, row_loss, progress) -> list[float]:  # type: ignore[no-untyped-def]
        cfg = self.config
        return train_weighted(
            model,
            tensors,
            torch.from_numpy(counts).float(),
            row_loss,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate,
            seed=cfg.seed,
            min_steps=cfg.min_steps,
            progress=progress,
            description=f"train {self.kind}",
        )

    def _set_thresholds(self, pooled: tuple[list[float], list[float]]) -> None:
        """Thresholds from held-out *normal* sessions' scores (never from labelled anomalies)."""
        cfg = self.config
        session_scores, event_scores = pooled
        self.threshold = quantile_threshold(session_scores, cfg.calibration_quantile, cfg.threshold_margin)
        self.event_threshold = quantile_threshold(event_scores, cfg.calibration_quantile, cfg.threshold_margin)
        flagged = sum(1 for s in session_scores if s > self.threshold)
        self.metrics["calibration_fpr"] = flagged / max(len(session_scores), 1)

    # -- scoring ----------------------------------------------------------------------------------
    def _stack_windows(
        self, sessions: Sequence[Sequence[str]], texts: EventTexts | None, with_end: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        pairs = [self.lstm_windows(s, texts[i] if texts else None, with_end) for i, s in enumerate(sessions)]
        w = self.config.window
        if not pairs:
            return np.zeros((0, w), np.int64), np.zeros((0, w, N_FEATURES), np.float32)
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    @torch.no_grad()
    def window_errors(self, keys: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """lstm-ae reconstruction error of each window; distinct windows go through the model once."""
        model, w = self.model, self.config.window
        if model is None or len(keys) == 0:
            return np.zeros(len(keys))
        distinct, inverse, _ = unique_rows(np.column_stack([keys, feats.reshape(len(keys), -1)]))
        errors = []
        for start in range(0, len(distinct), 4096):
            chunk = distinct[start : start + 4096]
            k = torch.from_numpy(chunk[:, :w].astype(np.int64))
            f = torch.from_numpy(chunk[:, w:].astype(np.float32).reshape(len(chunk), w, N_FEATURES))
            errors.append(model.errors(k, f, *model(k, f), reduce=self.config.window_error))
        return torch.cat(errors).double().numpy()[inverse]

    @torch.no_grad()
    def vector_errors(self, vectors: np.ndarray, running: bool = False) -> np.ndarray:
        """vae reconstruction error of each (raw, log-scaled) count vector.

        ``running``: the vectors are sessions in progress (flag 0); they go to the prefix VAE when there
        is one, else to the session VAE.
        """
        model, mean, std = self.model, self.input_mean, self.input_std
        if running and self.prefix_model is not None:
            model, mean, std = self.prefix_model, self.prefix_mean, self.prefix_std
        if model is None or len(vectors) == 0:
            return np.zeros(len(vectors))
        if mean is not None and std is not None:
            vectors = ((vectors - mean) / std).astype(np.float32)
        distinct, inverse, _ = unique_rows(vectors)
        x = torch.from_numpy(distinct.astype(np.float32))
        rebuilt, _, _ = model(x)
        return model.reconstruction_error(x, rebuilt).double().numpy()[inverse]

    def _raw_scores(
        self, sessions: Sequence[Sequence[str]], texts: EventTexts | None
    ) -> tuple[list[float], list[float]]:
        """Per session: its score as a whole, and its worst score at any event (what streaming sees)."""
        if self.config.arch == "lstm-ae":
            keys, feats = self._stack_windows(sessions, texts, with_end=True)
            errors = self.window_errors(keys, feats)
            parts = np.split(errors, np.cumsum([len(s) + 1 for s in sessions])[:-1])
            return [float(p.max()) for p in parts], [float(p[:-1].max()) if len(p) > 1 else 0.0 for p in parts]
        vectors = [self._vae_vectors(s, prefixes=True) for s in sessions]
        if not vectors:
            return [], []
        whole = self.vector_errors(np.stack([v[-1] for v in vectors]))
        running = self.vector_errors(np.concatenate([v[:-1] for v in vectors]), running=True)
        parts = np.split(running, np.cumsum([len(v) - 1 for v in vectors])[:-1])
        return [float(e) for e in whole], [float(p.max()) if len(p) else 0.0 for p in parts]

    def score_sessions(
        self, sessions: Sequence[Sequence[str]], event_texts: EventTexts | None = None
    ) -> list[tuple[float, bool]]:
        """(score, is_anomaly) per session, in order."""
        vocab = self._require_vocab()
        if self.config.arch == "vae":
            vectors = [self._vae_vectors(s, prefixes=False)[-1] for s in sessions]
            scores = list(self.vector_errors(np.stack(vectors))) if vectors else []
        else:
            scores, _ = self._raw_scores(sessions, event_texts)
        results = []
        for session, score in zip(sessions, scores):
            if any(key not in vocab for key in session):
                score = UNSEEN_SCORE
            results.append((float(score), float(score) > self.threshold))
        return results

    # -- persistence ------------------------------------------------------------------------------
    def save_pretrained(
        self,
        folder: str | Path,
        training_data: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> Path:
        vocab = self._require_vocab()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            **self.config.model_dump(),
            "vocab": vocab.keys,
            "feature_mean": self.feature_mean.tolist(),
            "feature_std": self.feature_std.tolist(),
            "input_mean": None if self.input_mean is None else self.input_mean.tolist(),
            "input_std": None if self.input_std is None else self.input_std.tolist(),
        }
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        assert self.model is not None
        save_weights(self.model, folder)
        if self.prefix_model is not None:
            save_weights(self.prefix_model, folder, PREFIX_WEIGHTS_FILE)
            config["prefix_mean"] = None if self.prefix_mean is None else self.prefix_mean.tolist()
            config["prefix_std"] = None if self.prefix_std is None else self.prefix_std.tolist()
            (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        write_manifest(
            folder,
            kind=self.kind,
            thresholds={"session": self.threshold, "event": self.event_threshold},
            metrics={**self.metrics, **(metrics or {})},
            training_data=training_data or {},
            config=self.config.model_dump(),
        )
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "AutoencoderDetector":
        folder = Path(folder)
        manifest = verify_model_folder(folder)
        if manifest.kind not in KINDS.values():
            raise ValueError(f"{folder}: a {manifest.kind!r} model is not an autoencoder")
        config = json.loads((folder / CONFIG_FILE).read_text())
        vocab = config.pop("vocab")
        mean, std = config.pop("feature_mean"), config.pop("feature_std")
        input_mean, input_std = config.pop("input_mean"), config.pop("input_std")
        prefix_mean, prefix_std = config.pop("prefix_mean", None), config.pop("prefix_std", None)
        detector = cls(**config)
        detector.vocab = Vocab(vocab)
        detector.feature_mean = np.asarray(mean, dtype=np.float32)
        detector.feature_std = np.asarray(std, dtype=np.float32)
        if input_mean is not None and input_std is not None:
            detector.input_mean = np.asarray(input_mean, dtype=np.float32)
            detector.input_std = np.asarray(input_std, dtype=np.float32)
        detector.model = detector._build_model()
        load_weights(detector.model, folder)
        if (folder / PREFIX_WEIGHTS_FILE).is_file():
            detector.prefix_model = detector._build_model()
            load_weights(detector.prefix_model, folder, PREFIX_WEIGHTS_FILE)
            detector.prefix_mean = None if prefix_mean is None else np.asarray(prefix_mean, dtype=np.float32)
            detector.prefix_std = None if prefix_std is None else np.asarray(prefix_std, dtype=np.float32)
        detector.threshold = float(manifest.thresholds["session"])
        detector.event_threshold = float(manifest.thresholds["event"])
        detector.metrics = dict(manifest.metrics)
        return detector
