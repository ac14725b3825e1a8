"""Next-template sequence models (DeepLog LSTM and a Transformer-encoder variant).

Each session is read as ``<bos> k1 ... kn <eos>``; the model sees the previous ``window`` tokens
(left-padded) and predicts the next one. A template never seen in training is always anomalous
("unseen template", score ``UNSEEN_SCORE``).

Verdicts (``verdict``):

* ``"probability"`` (default): an event's *surprise* is its negative log-probability above a floor,
  ``max(0, -log p - surprise_floor)``; events the model finds plausible (p > e^-floor) add nothing. A
  session's event score is the sum of its surprises (``aggregate="sum"``) or the largest (``"max"``).
  Summing matters on HDFS: an abnormal flow is often several moderately unlikely events in a row, while
  a rare-but-normal session has one odd event. With ``predict_end`` on, the end of a session is one more
  prediction with its own threshold (ends are predicted far more confidently than events).
* ``"top_g"`` (DeepLog): an event is anomalous when its template is outside the top ``g`` predictions;
  the score is its rank.

Thresholds are calibrated on *normal* sessions only: with ``calibration_folds`` >= 2 the sessions are
cut into folds, a model trained on the other folds scores each fold, and the ``calibration_quantile``
of the pooled held-out scores is the threshold; the shipped model is then trained on all sessions. With
``ensemble`` (default) the k fold models are kept (``fold-<i>.safetensors``) and an event's probability
is the mean of theirs and the full model's: a single model's fit of rare contexts varies with its seed
(HDFS, same split: recall 0.63 with one seed, 0.96-0.97 with others; the ensemble gave 0.96-0.97 on all
three). With ``calibration_folds`` < 2 a single ``calibration_fraction`` slice is held out instead.

Training weights each distinct (context, next) row by ``count ** count_power``. Plain maximum
likelihood (1) makes a rare-but-normal continuation as improbable as an anomaly and underfits rare
contexts; 0 (default) teaches the model which continuations occur at all.

A session's score is its event score, or its end surprise rescaled onto the event scale
(``end * threshold / end_threshold``) if that is higher, so that one session threshold applies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, Field

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

UNSEEN_SCORE = 1e6  # finite so it stays valid JSON; far above any rank or clamped NLL
KINDS = {"lstm": "sequence-lstm", "transformer": "sequence-transformer"}
MEMBER_FILE = "fold-{}.safetensors"  # ensemble members: the calibration-fold models


class SequenceConfig(BaseModel):
    arch: Literal["lstm", "transformer"] = "lstm"
    window: int = Field(10, ge=1, description="h: how many previous templates the model sees")
    top_g: int = Field(9, ge=1, description="g: an event is normal when its template is in the top g")
    verdict: Literal["top_g", "probability"] = "probability"
    surprise_floor: float = Field(
        2.0, ge=0.0, description="probability verdict: -log p up to this counts as no surprise"
    )
    aggregate: Literal["sum", "max"] = Field("sum", description="probability verdict: session event score")
    predict_end: bool = Field(True, description="also predict the end of a session (offline scoring)")
    embed_dim: int = 32
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    dropout: float = 0.0
    count_power: float = Field(
        0.0, ge=0.0, le=1.0,
        description="weight of a distinct (context, next) row = its count ** count_power; 1 is plain "
        "maximum likelihood, lower values fit rare normal patterns more closely",
    )
    epochs: int = 40
    min_steps: int = Field(
        400, ge=0, description="at least this many optimizer steps (small data has few batches per epoch)"
    )
    batch_size: int = 256
    learning_rate: float = 3e-3
    calibration_folds: int = Field(
        5, ge=0, description="k-fold calibration on normal sessions (< 2: one calibration_fraction slice)"
    )
    calibration_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    calibration_quantile: float = Field(0.999, ge=0.0, le=1.0, description="of held-out session scores")
    end_quantile: float = Field(0.999, ge=0.0, le=1.0, description="of held-out end surprises")
    end_floor: float = Field(
        3.0, ge=0.0,
        description="lowest end threshold: almost every normal end has surprise ~0, so the quantile can "
        "land on a handful of odd endings; below this it flagged normal endings on a development split",
    )
    threshold_margin: float = Field(1.0, gt=0.0)
    ensemble: bool = Field(
        True,
        description="k-fold calibration: keep the k fold models and score with the mean probability of "
        "them and the full model; one model's fit of the rare contexts varies a lot with its seed",
    )
    seed: int = 0


@dataclass(slots=True)
class EventScores:
    """Per-event model output, aligned with the (context, target) rows that were scored."""

    rank: np.ndarray  # 1-based rank of the actual template among the predictions
    nll: np.ndarray  # negative log-probability of the actual template
    top: np.ndarray  # (n, k) the most likely tokens, for explanations


def session_tokens(vocab: Vocab, session: Sequence[str], with_end: bool) -> list[int]:
    return [BOS, *vocab.ids(session), *([EOS] if with_end else [])]


def context_rows(tokens: Sequence[int], window: int) -> tuple[np.ndarray, np.ndarray]:
    """(contexts, targets) for every token after the first: the ``window`` tokens before it, left-padded."""
    padded = np.concatenate([np.full(window, PAD, dtype=np.int64), np.asarray(tokens, dtype=np.int64)])
    contexts = np.lib.stride_tricks.sliding_window_view(padded, window)[1 : len(tokens)]
    return contexts, padded[window + 1 :]


class SequenceDetector:
    """Estimator API: ``fit(sessions)``, ``score_sessions(sessions)``, ``save_pretrained``/``from_pretrained``."""

    def __init__(self, arch: Literal["lstm", "transformer"] = "lstm", **hyper: Any) -> None:
        self.config = SequenceConfig(arch=arch, **hyper)
        self.vocab: Vocab | None = None
        self.model: torch.nn.Module | None = None
        self.members: list[torch.nn.Module] = []  # calibration-fold models scored with the full model
        self.threshold: float = float(self.config.top_g)
        self.end_threshold: float = float(self.config.top_g)
        self.metrics: dict[str, Any] = {}

    @property
    def kind(self) -> str:
        return KINDS[self.config.arch]

    # -- training ---------------------------------------------------------------------------------
    def fit(self, sessions: Sequence[Sequence[str]], progress: bool = False) -> "SequenceDetector":
        cfg = self.config
        torch.manual_seed(cfg.seed)
        self.members = []
        use_folds = cfg.verdict == "probability" and cfg.calibration_folds >= 2 and len(sessions) >= 2 * cfg.calibration_folds
        if cfg.verdict == "top_g" or use_folds:
            train, held_out = list(sessions), []
        else:
            train_idx, calibration_idx = split_calibration(len(sessions), cfg.calibration_fraction, cfg.seed)
            train, held_out = [sessions[i] for i in train_idx], [sessions[i] for i in calibration_idx]
        self.vocab = Vocab.build(train)
        pooled = self._out_of_fold_scores(sessions, progress) if use_folds else None
        self.model = self._build_model()
        history, n_rows = self._train(train, progress, f"train sequence-{cfg.arch}")
        if pooled is None and cfg.verdict == "probability":
            if not held_out:
                raise ValueError("verdict='probability' needs calibration_folds >= 2 or calibration_fraction > 0")
            pooled = self._calibration_scores(held_out)
        self._set_thresholds(pooled)
        if pooled is not None:
            flagged = sum(1 for e, end in zip(*pooled) if self._combine(e, end) > self.threshold)
            self.metrics["calibration_fpr"] = flagged / max(len(pooled[0]), 1)
        self.metrics = {
            "train_sessions": len(train),
            "calibration_sessions": 0 if pooled is None else len(pooled[0]),
            "calibration": f"{cfg.calibration_folds}-fold" if use_folds else "held-out slice",
            "distinct_training_rows": n_rows,
            "final_loss": history[-1] if history else None,
            **self.metrics,
        }
        return self

    def _train(self, train: Sequence[Sequence[str]], progress: bool, description: str) -> tuple[list[float], int]:
        cfg, model = self.config, self.model
        assert model is not None
        contexts, targets = self._rows(train, with_end=cfg.predict_end)
        distinct, _, counts = unique_rows(np.column_stack([contexts, targets]))
        tensors = [torch.from_numpy(distinct[:, :-1]), torch.from_numpy(distinct[:, -1])]
        history = train_weighted(
            model,
            tensors,
            torch.from_numpy(counts).double().pow(cfg.count_power).float(),
            lambda ctx, tgt: torch.nn.functional.cross_entropy(model(ctx), tgt, reduction="none"),
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate,
            seed=cfg.seed,
            min_steps=cfg.min_steps,
            progress=progress,
            description=description,
        )
        return history, len(distinct)

    def _out_of_fold_scores(
        self, sessions: Sequence[Sequence[str]], progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Event and end scores of every session from a model that did not train on it (k-fold).

        The fold models share the full vocabulary; with ``ensemble`` they are kept in ``members``.
        """
        cfg, k = self.config, self.config.calibration_folds
        fold_of = fold_assignment(len(sessions), k, cfg.seed)
        events, ends, self.members = [], [], []
        for fold in range(k):
            helper = SequenceDetector(**{**cfg.model_dump(), "calibration_folds": 0, "seed": cfg.seed + 1 + fold})
            fold_train = [s for s, f in zip(sessions, fold_of) if f != fold]
            helper.vocab = self._require_vocab()
            helper.model = helper._build_model()
            helper._train(fold_train, progress, f"calibration fold {fold + 1}/{k}")
            # Sessions with a template this fold never saw are left out: the final model knows it.
            seen = {key for s in fold_train for key in s}
            held = [s for s, f in zip(sessions, fold_of) if f == fold and all(key in seen for key in s)]
            fold_events, fold_ends = helper._calibration_scores(held)
            events.append(fold_events)
            ends.append(fold_ends)
            if cfg.ensemble:
                self.members.append(helper.model)
        return np.concatenate(events), np.concatenate(ends)

    def _calibration_scores(self, held_out: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        events, ends = self._split_event_scores(held_out, self.config.verdict)
        return np.array([self._aggregate(e) for e in events]), np.asarray(ends, dtype=np.float64)

    def _build_model(self) -> torch.nn.Module:
        from enricher.anomaly.nets import NextKeyLSTM, NextKeyTransformer

        cfg, size = self.config, len(self._require_vocab())
        if cfg.arch == "lstm":
            return NextKeyLSTM(size, cfg.embed_dim, cfg.hidden, cfg.layers, cfg.dropout)
        return NextKeyTransformer(size, cfg.window, cfg.hidden, cfg.heads, cfg.layers, cfg.dropout)

    def _set_thresholds(self, pooled: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Thresholds from held-out *normal* session scores (never from labelled anomalies)."""
        cfg = self.config
        if cfg.verdict == "top_g" or pooled is None:
            self.threshold = self.end_threshold = float(cfg.top_g)
            return
        events, ends = pooled
        self.threshold = quantile_threshold(events, cfg.calibration_quantile, cfg.threshold_margin)
        if cfg.predict_end:
            self.end_threshold = max(
                quantile_threshold(ends, cfg.end_quantile, cfg.threshold_margin), cfg.end_floor
            )
        # A zero threshold (every held-out event plausible) would flag any surprise at all: keep a floor.
        self.threshold = max(self.threshold, 1e-3)
        self.end_threshold = max(self.end_threshold, 1e-3)

    # -- scoring ----------------------------------------------------------------------------------
    def _require_vocab(self) -> Vocab:
        if self.vocab is None:
            raise RuntimeError("the detector is not fitted; call fit() or from_pretrained()")
        return self.vocab

    def _rows(self, sessions: Sequence[Sequence[str]], with_end: bool) -> tuple[np.ndarray, np.ndarray]:
        vocab, window = self._require_vocab(), self.config.window
        pairs = [context_rows(session_tokens(vocab, s, with_end), window) for s in sessions]
        if not pairs:
            return np.zeros((0, window), dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    @torch.no_grad()
    def score_rows(self, contexts: np.ndarray, targets: np.ndarray, top_k: int = 3) -> EventScores:
        """Rank and NLL of each target after its context; distinct rows go through the model once."""
        if self.model is None:
            raise RuntimeError("the detector is not fitted; call fit() or from_pretrained()")
        n = len(targets)
        if n == 0:
            return EventScores(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, top_k), np.int64))
        distinct, inverse, _ = unique_rows(np.column_stack([contexts, targets]))
        ranks, nlls, tops = [], [], []
        models = [self.model, *self.members]
        for start in range(0, len(distinct), 4096):
            chunk = torch.from_numpy(np.ascontiguousarray(distinct[start : start + 4096]))
            # The ensemble's probability is the mean of its models' probabilities.
            stacked = torch.stack([torch.log_softmax(m(chunk[:, :-1]), dim=-1) for m in models])
            log_probs = torch.logsumexp(stacked, dim=0) - float(np.log(len(models)))
            log_probs[:, PAD] = -torch.inf  # padding is never a real next event
            target = chunk[:, -1:]
            actual = log_probs.gather(1, target)
            ranks.append((log_probs > actual).sum(1) + 1)
            nlls.append(-actual.squeeze(1))
            tops.append(log_probs.topk(min(top_k, log_probs.shape[1]), dim=1).indices)
        rank = torch.cat(ranks).numpy()[inverse]
        nll = torch.cat(nlls).clamp(max=100.0).numpy()[inverse]
        return EventScores(rank, nll.astype(np.float64), torch.cat(tops).numpy()[inverse])

    def event_score(self, scores: EventScores) -> np.ndarray:
        """Rank (top_g) or surprise (probability) of each scored event; higher is more anomalous."""
        if self.config.verdict == "top_g":
            return scores.rank.astype(np.float64)
        return np.clip(scores.nll - self.config.surprise_floor, 0.0, None)

    def _aggregate(self, event_scores: np.ndarray) -> float:
        if len(event_scores) == 0:
            return 0.0
        if self.config.verdict == "probability" and self.config.aggregate == "sum":
            return float(min(event_scores.sum(), UNSEEN_SCORE))
        return float(event_scores.max())

    def _combine(self, event_score: float, end_score: float) -> float:
        if not self.config.predict_end:
            return event_score
        end_scale = self.threshold / self.end_threshold if self.end_threshold > 0 else 1.0
        return max(event_score, float(end_score) * end_scale)

    def _split_event_scores(
        self, sessions: Sequence[Sequence[str]], which: Literal["top_g", "probability"]
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Per session: the scores of its events, and the score of its end (0 without ``predict_end``)."""
        with_end = self.config.predict_end
        contexts, targets = self._rows(sessions, with_end=with_end)
        scores = self.score_rows(contexts, targets)
        values = self.event_score(scores) if which == self.config.verdict else (
            scores.nll if which == "probability" else scores.rank.astype(np.float64)
        )
        values = np.where(targets == UNK, UNSEEN_SCORE, values)
        lengths = [len(s) + (1 if with_end else 0) for s in sessions]
        per_session = np.split(values, np.cumsum(lengths)[:-1]) if lengths else []
        if not with_end:
            return per_session, np.zeros(len(per_session))
        return [v[:-1] for v in per_session], np.array([v[-1] for v in per_session])

    def score_sessions(self, sessions: Sequence[Sequence[str]]) -> list[tuple[float, bool]]:
        """(score, is_anomaly) per session, in order. Unseen templates give ``UNSEEN_SCORE``."""
        events, ends = self._split_event_scores(sessions, self.config.verdict)
        results = []
        for event_scores, end_score in zip(events, ends):
            score = self._combine(self._aggregate(event_scores), float(end_score))
            results.append((score, score > self.threshold))
        return results

    # -- persistence ------------------------------------------------------------------------------
    def save_pretrained(
        self,
        folder: str | Path,
        training_data: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> Path:
        if self.model is None:
            raise RuntimeError("nothing to save: the detector is not fitted")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {**self.config.model_dump(), "vocab": self._require_vocab().keys, "members": len(self.members)}
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        save_weights(self.model, folder)
        for index, member in enumerate(self.members):
            save_weights(member, folder, MEMBER_FILE.format(index))
        write_manifest(
            folder,
            kind=self.kind,
            thresholds={"event": self.threshold, "end": self.end_threshold, "session": self.threshold},
            metrics={**self.metrics, **(metrics or {})},
            training_data=training_data or {},
            config=self.config.model_dump(),
        )
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "SequenceDetector":
        folder = Path(folder)
        manifest = verify_model_folder(folder)
        if manifest.kind not in KINDS.values():
            raise ValueError(f"{folder}: a {manifest.kind!r} model is not a sequence model")
        config = json.loads((folder / CONFIG_FILE).read_text())
        vocab = config.pop("vocab")
        n_members = int(config.pop("members", 0))
        detector = cls(**config)
        detector.vocab = Vocab(vocab)
        detector.model = detector._build_model()
        load_weights(detector.model, folder)
        for index in range(n_members):
            member = detector._build_model()
            load_weights(member, folder, MEMBER_FILE.format(index))
            detector.members.append(member)
        detector.threshold = float(manifest.thresholds["event"])
        detector.end_threshold = float(manifest.thresholds.get("end", detector.threshold))
        detector.metrics = dict(manifest.metrics)
        return detector
