"""Next-template sequence models: DeepLog's LSTM and a Transformer-encoder variant (only the network differs).

Each session is read as ``<bos> k1 ... kn <eos>``; the network sees the previous ``window`` tokens
(left-padded) and predicts the next one. A template never seen in training is always anomalous
("unseen template", score ``UNSEEN_SCORE``).

* ``verdict="probability"`` (default): an event's *surprise* is ``max(0, -log p - surprise_floor)``, so
  events the model finds plausible (p > e^-floor) add nothing. A session's event score is the sum of its
  surprises (``aggregate="sum"``) or the largest (``"max"``). Summing matters on HDFS: an abnormal flow is
  often several moderately unlikely events in a row, while a rare-but-normal session has one odd event.
  With ``predict_end`` on, the end of a session is one more prediction with its own threshold (ends are
  predicted far more confidently than events).
* ``verdict="top_g"`` (DeepLog): an event is anomalous when its template is outside the top ``g``
  predictions; the score is its rank.

With ``ensemble`` (default) the k calibration-fold models are kept (``fold-<i>.safetensors``) and an
event's probability is the mean of theirs and the full model's: a single model's fit of rare contexts
varies with its seed (HDFS, same split: recall 0.63 with one seed, 0.96-0.97 with others; the ensemble
gave 0.96-0.97 on all three).

Training weights each distinct (context, next) row by ``count ** count_power``. Plain maximum
likelihood (1) makes a rare-but-normal continuation as improbable as an anomaly and underfits rare
contexts; 0 (default) teaches the model which continuations occur at all.

A session's score is its event score, or its end surprise rescaled onto the event scale
(``end * threshold_ / end_threshold_``) if that is higher, so that one session threshold applies. In the
service a session has no end: ``event_threshold_`` equals ``threshold_`` and applies to the running score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from enricher.anomaly.base import AnomalyEstimator, EstimatorConfig, RunningSession, Scores, Sessions, quantile_or_floor
from enricher.anomaly.nets import NextKeyLSTM, NextKeyTransformer
from enricher.anomaly.training import TimeBudget, train_weighted, unique_rows
from enricher.anomaly.vocab import BOS, PAD, SPECIAL_TOKENS, UNK
from enricher.records import UNSEEN_SCORE, AnomalyEvent

BOS_MARK = SPECIAL_TOKENS[BOS]  # a running session's history starts with this mark
MEMBER_FILE = "fold-{}"  # ensemble members: the calibration-fold networks


class SequenceConfig(EstimatorConfig):
    window: int = Field(10, ge=1, description="h: how many previous templates the model sees")
    top_g: int = Field(9, ge=1, description="g: an event is normal when its template is in the top g")
    verdict: Literal["top_g", "probability"] = "probability"
    surprise_floor: float = Field(
        2.0, ge=0.0, description="probability verdict: -log p up to this counts as no surprise"
    )
    aggregate: Literal["sum", "max"] = Field("sum", description="probability verdict: session event score")
    predict_end: bool = Field(True, description="also predict the end of a session (offline scoring)")
    hidden: int = Field(64, ge=1, description="LSTM hidden size / Transformer model width")
    layers: int = Field(2, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    count_power: float = Field(
        0.0, ge=0.0, le=1.0,
        description="weight of a distinct (context, next) row = its count ** count_power; 1 is plain "
        "maximum likelihood, lower values fit rare normal patterns more closely",
    )
    calibration_quantile: float = Field(0.999, ge=0.0, le=1.0, description="of held-out session scores")
    end_quantile: float = Field(0.999, ge=0.0, le=1.0, description="of held-out end surprises")
    end_floor: float = Field(
        3.0, ge=0.0,
        description="lowest end threshold: almost every normal end has surprise ~0, so the quantile can "
        "land on a handful of odd endings; below this it flagged normal endings on a development split",
    )
    ensemble: bool = Field(
        True,
        description="k-fold calibration: keep the k fold models and score with the mean probability of "
        "them and the full model; one model's fit of the rare contexts varies a lot with its seed",
    )


class LstmSequenceConfig(SequenceConfig):
    embed_dim: int = Field(32, ge=1)


class TransformerSequenceConfig(SequenceConfig):
    heads: int = Field(4, ge=1, description="attention heads (must divide hidden)")


@dataclass(slots=True)
class EventScores:
    """Per-event model output, aligned with the (context, target) rows that were scored."""

    rank: np.ndarray  # 1-based rank of the actual template among the predictions
    nll: np.ndarray  # negative log-probability of the actual template
    top: np.ndarray  # (n, k) the most likely tokens, for explanations


def context_rows(tokens: Sequence[int], window: int) -> tuple[np.ndarray, np.ndarray]:
    """(contexts, targets) for every token after the first: the ``window`` tokens before it, left-padded."""
    padded = np.concatenate([np.full(window, PAD, dtype=np.int64), np.asarray(tokens, dtype=np.int64)])
    contexts = np.lib.stride_tricks.sliding_window_view(padded, window)[1 : len(tokens)]
    return contexts, padded[window + 1 :]


class SequenceDetector(AnomalyEstimator):
    """Next-template prediction; subclasses choose the network (:meth:`_build_network`)."""

    family: ClassVar[str] = "sequence"
    config_class: ClassVar[type[EstimatorConfig]] = SequenceConfig
    config: SequenceConfig

    def __init__(self, **hyper: Any) -> None:
        super().__init__(**hyper)
        self.members_: list[torch.nn.Module] = []  # calibration-fold networks scored with the full one
        self.end_threshold_: float = float("nan")

    # -- training ---------------------------------------------------------------------------------
    @property
    def _calibrates(self) -> bool:
        return self.config.verdict == "probability"

    def _fit_networks(
        self, train: Sessions, *, seed: int, budget: TimeBudget, progress: bool, description: str
    ) -> tuple[list[float], int]:
        cfg = self.config
        torch.manual_seed(seed)
        network = self.network_ = self._build_network()
        contexts, targets = self._rows(train.keys, with_end=cfg.predict_end)
        distinct, _, counts = unique_rows(np.column_stack([contexts, targets]))
        history = train_weighted(
            network,
            [torch.from_numpy(distinct[:, :-1]), torch.from_numpy(distinct[:, -1])],
            torch.from_numpy(counts).double().pow(cfg.count_power).float(),
            lambda ctx, tgt: torch.nn.functional.cross_entropy(network(ctx), tgt, reduction="none"),
            epochs=cfg.epochs, batch_size=cfg.batch_size, min_batches=cfg.min_batches,
            learning_rate=cfg.learning_rate, seed=seed, progress=progress, description=description, budget=budget,
        )
        return history, len(distinct)

    def _keep_fold_model(self, helper: AnomalyEstimator) -> None:
        if self.config.ensemble and isinstance(helper, SequenceDetector) and helper.network_ is not None:
            self.members_.append(helper.network_)

    def fit(self, sessions: Sequence[Sequence[str]], event_texts: Any = None, *, progress: bool = False) -> Any:
        self.members_ = []  # refilled by the k-fold calibration when ensembling
        return super().fit(sessions, event_texts, progress=progress)

    def _calibration_scores(self, held_out: Sessions) -> Scores:
        events, ends = self._split_event_scores(held_out.keys)
        return {"events": np.array([self._aggregate(e) for e in events]), "ends": np.asarray(ends, np.float64)}

    def _set_thresholds(self, pooled: Scores | None) -> None:
        """Thresholds from held-out *normal* session scores (never from labelled anomalies)."""
        cfg = self.config
        if pooled is None:  # top_g: the rank itself is the verdict
            self.threshold_ = self.event_threshold_ = self.end_threshold_ = float(cfg.top_g)
            return
        self.threshold_ = quantile_or_floor(pooled["events"], cfg.calibration_quantile, cfg.threshold_margin)
        self.event_threshold_ = self.end_threshold_ = self.threshold_
        if cfg.predict_end:
            floor = max(cfg.end_floor, 1e-3)
            self.end_threshold_ = quantile_or_floor(pooled["ends"], cfg.end_quantile, cfg.threshold_margin, floor)

    def _session_scores(self, pooled: Scores) -> np.ndarray:
        return np.array([self._combine(e, end) for e, end in zip(pooled["events"], pooled["ends"])])

    def thresholds(self) -> dict[str, float]:
        return {**super().thresholds(), "end": self.end_threshold_}

    def _load_thresholds(self, saved: dict[str, float]) -> None:
        super()._load_thresholds(saved)
        self.end_threshold_ = float(saved.get("end", self.threshold_))

    # -- scoring ----------------------------------------------------------------------------------
    def _rows(self, sessions: Sequence[Sequence[str]], with_end: bool) -> tuple[np.ndarray, np.ndarray]:
        vocab, window = self._vocab(), self.config.window
        pairs = [context_rows(vocab.tokens(s, with_end), window) for s in sessions]
        if not pairs:
            return np.zeros((0, window), dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    @torch.no_grad()
    def score_rows(self, contexts: np.ndarray, targets: np.ndarray, top_k: int = 3) -> EventScores:
        """Rank and NLL of each target after its context; distinct rows go through the networks once."""
        self._require_fitted()
        if len(targets) == 0:
            return EventScores(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, top_k), np.int64))
        distinct, inverse, _ = unique_rows(np.column_stack([contexts, targets]))
        ranks, nlls, tops = [], [], []
        networks = [self.network_, *self.members_]
        for chunk in torch.from_numpy(distinct).split(4096):
            # The ensemble's probability is the mean of its networks' probabilities.
            stacked = torch.stack([torch.log_softmax(m(chunk[:, :-1]), dim=-1) for m in networks])  # type: ignore[misc]
            log_probs = torch.logsumexp(stacked, dim=0) - float(np.log(len(networks)))
            log_probs[:, PAD] = -torch.inf  # padding is never a real next event
            actual = log_probs.gather(1, chunk[:, -1:])
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

    @property
    def _sums(self) -> bool:
        """Whether a session's score is the sum of its events' surprises (else the highest event score)."""
        return self.config.verdict == "probability" and self.config.aggregate == "sum"

    def _aggregate(self, event_scores: np.ndarray) -> float:
        if len(event_scores) == 0:
            return 0.0
        if self._sums:
            return float(min(event_scores.sum(), UNSEEN_SCORE))
        return float(event_scores.max())

    def _combine(self, event_score: float, end_score: float) -> float:
        if not self.config.predict_end:
            return float(event_score)
        end_scale = self.threshold_ / self.end_threshold_ if self.end_threshold_ > 0 else 1.0
        return max(float(event_score), float(end_score) * end_scale)

    def _split_event_scores(self, sessions: Sequence[Sequence[str]]) -> tuple[list[np.ndarray], np.ndarray]:
        """Per session: the scores of its events, and the score of its end (0 without ``predict_end``)."""
        with_end = self.config.predict_end
        contexts, targets = self._rows(sessions, with_end=with_end)
        values = np.where(targets == UNK, UNSEEN_SCORE, self.event_score(self.score_rows(contexts, targets)))
        lengths = [len(s) + (1 if with_end else 0) for s in sessions]
        per_session = np.split(values, np.cumsum(lengths)[:-1]) if lengths else []
        if not with_end:
            return per_session, np.zeros(len(per_session))
        return [v[:-1] for v in per_session], np.array([v[-1] for v in per_session])

    # -- streaming (the service) ------------------------------------------------------------------
    def start_running(self) -> list[str]:
        return [BOS_MARK]  # the last `window` template ids of the session

    def _token(self, key: str) -> int:
        return BOS if key == BOS_MARK else self._vocab().id(key)

    def score_running(
        self, sessions: Sequence[RunningSession], events: Sequence[AnomalyEvent]
    ) -> list[tuple[float, str | None]]:
        window = self.config.window
        contexts = np.full((len(events), window), PAD, dtype=np.int64)
        targets = np.zeros(len(events), dtype=np.int64)
        histories: list[list[str]] = []
        for row, (session, event) in enumerate(zip(sessions, events)):
            history = session.memory
            histories.append(history)
            contexts[row, window - len(history) :] = [self._token(k) for k in history]
            targets[row] = self._token(event.template_id)
            session.memory = (history + [event.template_id])[-window:]
        scores = self.score_rows(contexts, targets)
        values = self.event_score(scores)
        results: list[tuple[float, str | None]] = []
        for row, (session, event) in enumerate(zip(sessions, events)):
            if targets[row] == UNK:
                value, reason = UNSEEN_SCORE, f"unseen template {event.template_id}"
            else:
                value = float(values[row])
                if self._sums:
                    # The running surprise of the session so far is what the threshold applies to.
                    session.score += value
                    value = session.score if value > 0 else 0.0
                flagged = value > self.event_threshold_
                reason = self._reason(event, histories[row], value, scores, row) if flagged else None
            if not self._sums:
                session.score = max(session.score, value)
            results.append((value, reason))
        return results

    def _reason(self, event: AnomalyEvent, history: list[str], value: float, scores: EventScores, row: int) -> str:
        threshold = self.event_threshold_
        after = " ".join(k for k in history[-3:] if k != BOS_MARK) or "session start"
        expected = ", ".join(self._vocab().key(int(t)) for t in scores.top[row][:3])
        rank = int(scores.rank[row])
        if self.config.verdict == "top_g":
            detail = f"rank {rank} > top-{self.config.top_g}"
        elif self._sums:
            detail = f"rank {rank}, p={np.exp(-scores.nll[row]):.2g}; session surprise {value:.3g} > {threshold:.3g}"
        else:
            detail = f"rank {rank}, surprise {value:.3g} > {threshold:.3g}"
        return f"template {event.template_id} unexpected after {after} ({detail}; expected {expected})"

    def running_to_json(self, memory: list[str], intern: Callable[[str], int]) -> list[int]:
        return [intern(key) for key in memory]

    def running_from_json(self, saved: list[int], lookup: Callable[[int], str]) -> list[str]:
        return [lookup(i) for i in saved][-self.config.window :]

    # -- persistence ------------------------------------------------------------------------------
    def _networks(self) -> dict[str, Any]:
        assert self.network_ is not None
        return {"model": self.network_, **{MEMBER_FILE.format(i): m for i, m in enumerate(self.members_)}}

    def _fitted_json(self) -> dict[str, Any]:
        return {"members": len(self.members_)}

    def _restore(self, folder: Path, fitted: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.network_ = self._load_network(folder, "model")
        members = int(fitted.get("members", 0))
        self.members_ = [self._load_network(folder, MEMBER_FILE.format(i)) for i in range(members)]

    @classmethod
    def _legacy(cls, config: dict[str, Any], fitted: dict[str, Any]) -> dict[str, np.ndarray]:
        fitted["members"] = config.pop("members", 0)
        return {}


class LstmSequenceDetector(SequenceDetector):
    kind: ClassVar[str] = "sequence-lstm"
    config_class: ClassVar[type[EstimatorConfig]] = LstmSequenceConfig
    config: LstmSequenceConfig

    def _build_network(self) -> torch.nn.Module:
        cfg = self.config
        return NextKeyLSTM(len(self._vocab()), cfg.embed_dim, cfg.hidden, cfg.layers, cfg.dropout)


class TransformerSequenceDetector(SequenceDetector):
    kind: ClassVar[str] = "sequence-transformer"
    config_class: ClassVar[type[EstimatorConfig]] = TransformerSequenceConfig
    config: TransformerSequenceConfig

    def _build_network(self) -> torch.nn.Module:
        cfg = self.config
        return NextKeyTransformer(len(self._vocab()), cfg.window, cfg.hidden, cfg.heads, cfg.layers, cfg.dropout)
