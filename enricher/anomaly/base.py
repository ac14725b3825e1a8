"""The one anomaly estimator interface (scikit-learn / PyOD style) and what every algorithm shares.

An estimator works on *sessions*: sequences of template ids (optionally with each event's text). ``fit``
trains on normal sessions and calibrates the thresholds on normal sessions the model did not train on:
``threshold_`` for whole sessions (offline scoring), ``event_threshold_`` for a session in progress at one
of its events (what the service compares with). A model folder holds ``config.json`` (hyperparameters),
``fitted.json`` (vocabulary, thresholds, small fitted values), ``arrays.safetensors`` and one
``<network>.safetensors`` per network; the registry manifest seals it.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from enricher.anomaly.kinds import ANOMALY_KINDS, DEFAULT_TIME_BUDGET_SECONDS
from enricher.anomaly.training import TimeBudget, split_calibration
from enricher.anomaly.vocab import Vocab
from enricher.records import UNSEEN_SCORE, AnomalyEvent  # UNSEEN_SCORE: finite (valid JSON), above any real score
from enricher.registry import verify_model_folder, write_manifest

CONFIG_FILE = "config.json"
FITTED_FILE = "fitted.json"
ARRAYS_FILE = "arrays.safetensors"
FORMAT_VERSION = 2  # 1: vocabulary and arrays in config.json, thresholds in the manifest (still loaded)
EventTexts = Sequence[Sequence[str | None]]
Scores = dict[str, np.ndarray]  # calibration scores of held-out sessions, by name
E = TypeVar("E", bound="AnomalyEstimator")


class EstimatorConfig(BaseModel):
    """Hyperparameters every estimator has. Subclasses add their own and may change defaults."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(40, ge=1, description="most passes over the distinct training rows")
    batch_size: int = Field(256, ge=1)
    min_batches: int = Field(
        10, ge=1, description="small data: shrink the batch until an epoch has this many optimizer steps"
    )
    learning_rate: float = Field(3e-3, gt=0.0)
    calibration_folds: int = Field(
        5, ge=0,
        description="k-fold calibration on normal sessions (k extra trainings; the saved model trains on "
        "all sessions); < 2: hold out one calibration_fraction slice instead",
    )
    calibration_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    calibration_quantile: float = Field(0.995, ge=0.0, le=1.0, description="of held-out normal session scores")
    threshold_margin: float = Field(1.0, gt=0.0, description="times the quantile (> 1 widens the normal band)")
    time_budget_seconds: float | None = Field(
        DEFAULT_TIME_BUDGET_SECONDS, gt=0.0,
        description="wall-clock budget of the whole fit, calibration included: epochs stop early when it is "
        "spent (null: epochs alone decide)",
    )
    seed: int = 0


@dataclass(slots=True)
class Sessions:
    """Sessions of template ids, with the events' texts when known (aligned with the ids)."""

    keys: list[Sequence[str]]
    texts: list[Sequence[str | None]] | None = None

    def take(self, index: Sequence[int] | np.ndarray) -> "Sessions":
        texts = None if self.texts is None else [self.texts[i] for i in index]
        return Sessions([self.keys[i] for i in index], texts)

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(slots=True)
class RunningSession:
    """What the service remembers of one session in progress."""

    memory: Any  # the estimator's own: last template ids, a window of events, template counts
    score: float = 0.0  # the session's score so far (running surprise, or highest event score)
    events: int = 0
    last_seen: float | None = None  # event time (seconds since the epoch) of its latest event


class AnomalyEstimator(ABC):
    """Base of every anomaly algorithm; one subclass per algorithm, registered by kind in ``kinds.py``."""

    kind: ClassVar[str]  # registry kind, e.g. "sequence-lstm"
    family: ClassVar[str]  # "sequence" or "autoencoder": where the service writes its verdict
    config_class: ClassVar[type[EstimatorConfig]] = EstimatorConfig

    def __init__(self, **hyper: Any) -> None:
        self.config = self.config_class(**hyper)
        self.network_: Any = None  # the trained network (torch module)
        self.vocab_: Vocab | None = None
        self.threshold_: float = math.nan
        self.event_threshold_: float = math.nan
        self.metrics_: dict[str, Any] = {}

    # -- what every algorithm implements ----------------------------------------------------------
    @abstractmethod
    def _fit_networks(
        self, train: Sessions, *, seed: int, budget: TimeBudget, progress: bool, description: str
    ) -> tuple[list[float], int]:
        """Fit the network(s) and fitted arrays on ``train`` (vocabulary already set); return the loss
        history and the number of distinct training rows."""

    @abstractmethod
    def _calibration_scores(self, held_out: Sessions) -> Scores:
        """Raw scores of held-out normal sessions, by name, one value per session."""

    def _set_thresholds(self, pooled: Scores | None) -> None:
        """Every threshold from pooled calibration scores (None when the estimator does not calibrate)."""
        assert pooled is not None
        cfg = self.config
        self.threshold_ = quantile_or_floor(pooled["session"], cfg.calibration_quantile, cfg.threshold_margin)
        self.event_threshold_ = quantile_or_floor(pooled["event"], cfg.calibration_quantile, cfg.threshold_margin)

    def _session_scores(self, pooled: Scores) -> np.ndarray:
        """The calibration sessions' scores on the ``threshold_`` scale (for the calibration FPR)."""
        return pooled["session"]

    def _raw_decision(self, data: Sessions) -> np.ndarray:
        """Score per session before unseen templates are accounted for (default: its calibration score)."""
        return self._session_scores(self._calibration_scores(data))

    def _networks(self) -> dict[str, Any]:
        """Trained networks by file stem (``model`` -> ``model.safetensors``)."""
        assert self.network_ is not None
        return {"model": self.network_}

    @abstractmethod
    def _build_network(self) -> Any:
        """A fresh network sized for ``vocab_``."""

    @abstractmethod
    def start_running(self) -> Any:
        """The memory of a session that has just started."""

    @abstractmethod
    def score_running(
        self, sessions: Sequence[RunningSession], events: Sequence[AnomalyEvent]
    ) -> list[tuple[float, str | None]]:
        """(score, reason when flagged) per event, against ``event_threshold_``.

        ``sessions[i]`` is event ``i``'s session (the same object for events of one session, in order);
        its memory and score are updated."""

    def _reconstruction_verdicts(
        self, sessions: Sequence[RunningSession], events: Sequence[AnomalyEvent], errors: Sequence[float],
        what: str,
    ) -> list[tuple[float, str | None]]:
        """The autoencoders' per-event verdicts from their reconstruction errors of ``what`` (the part of the
        session they rebuilt); an event of a template the model never saw gets ``UNSEEN_SCORE``."""
        vocab = self._require_fitted()
        results: list[tuple[float, str | None]] = []
        for session, event, error in zip(sessions, events, errors):
            score, reason = float(error), None
            if event.template_id not in vocab:
                score, reason = UNSEEN_SCORE, f"unseen template {event.template_id}"
            elif score > self.event_threshold_:
                reason = (f"{what} of session ending in template {event.template_id} reconstruct poorly "
                          f"(error {score:.3g} > {self.event_threshold_:.3g})")
            session.score = max(session.score, score)
            results.append((score, reason))
        return results

    @abstractmethod
    def running_to_json(self, memory: Any, intern: Callable[[str], int]) -> Any:
        """A session memory as compact JSON; template ids become ``intern(id)`` numbers."""

    @abstractmethod
    def running_from_json(self, saved: Any, lookup: Callable[[int], str]) -> Any:
        """Inverse of :meth:`running_to_json`."""

    # -- hooks with a default ----------------------------------------------------------------------
    @property
    def networks_per_fit(self) -> int:
        """Networks one training fits (each gets its share of the time budget)."""
        return 1

    @property
    def _calibrates(self) -> bool:
        """Whether thresholds come from held-out scores (else ``_set_thresholds(None)``)."""
        return True

    def _keep_fold_model(self, helper: "AnomalyEstimator") -> None:
        """k-fold calibration: keep what a fold model can add to the final model (default: nothing)."""

    def _fitted_json(self) -> dict[str, Any]:
        """Small fitted values saved in ``fitted.json`` besides the vocabulary and thresholds."""
        return {}

    def _fitted_arrays(self) -> dict[str, np.ndarray]:
        """Fitted arrays saved in ``arrays.safetensors``."""
        return {}

    @abstractmethod
    def _restore(self, folder: Path, fitted: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Set fitted values and load the networks of a saved folder (vocabulary already set)."""

    @classmethod
    def _legacy(cls, config: dict[str, Any], fitted: dict[str, Any]) -> dict[str, np.ndarray]:
        """Format 1 folder: take this kind's fitted values out of ``config`` into ``fitted``; return its arrays."""
        raise ValueError(f"{cls.kind}: no fitted.json in the model folder and no format-1 reader")

    # -- the interface ----------------------------------------------------------------------------
    def fit(
        self: E, sessions: Sequence[Sequence[str]], event_texts: EventTexts | None = None, *, progress: bool = False
    ) -> E:
        """Train on normal sessions; calibrate the thresholds on normal sessions held out from training."""
        cfg = self.config
        data = Sessions(list(sessions), None if event_texts is None else list(event_texts))
        # Few sessions (logs keyed by host have a handful): fewer folds, at least two sessions in each.
        folds = min(cfg.calibration_folds, len(data) // 2)
        use_folds = self._calibrates and folds >= 2
        trainings = (folds + 1 if use_folds else 1) * self.networks_per_fit
        budget = TimeBudget(cfg.time_budget_seconds, trainings)
        if use_folds or not self._calibrates:
            train, held_out = data, Sessions([])
        else:
            train_idx, held_idx = split_calibration(len(data), cfg.calibration_fraction, cfg.seed)
            train, held_out = data.take(train_idx), data.take(held_idx)
        self.vocab_ = Vocab.build(train.keys)
        pooled = kfold_calibration_scores(self, data, folds, budget, progress) if use_folds else None
        history, n_rows = self._fit_networks(
            train, seed=cfg.seed, budget=budget, progress=progress, description=f"train {self.kind}"
        )
        if pooled is None and self._calibrates:
            if not len(held_out):
                raise ValueError("threshold calibration needs calibration_folds >= 2 or calibration_fraction > 0")
            pooled = self._calibration_scores(held_out)
        self._set_thresholds(pooled)
        calibration_sessions = 0 if pooled is None else len(self._session_scores(pooled))
        self.metrics_ = {
            "train_sessions": len(train),
            "calibration_sessions": calibration_sessions,
            "calibration": f"{folds}-fold" if use_folds else "held-out slice",
            "distinct_training_rows": n_rows,
            "final_loss": history[-1] if history else None,
            "final_epochs": len(history),
            "trainings_cut_by_time_budget": budget.cut_short,
        }
        if pooled is not None:
            flagged = self._session_scores(pooled) > self.threshold_
            self.metrics_["calibration_fpr"] = float(flagged.mean()) if len(flagged) else 0.0
        return self

    def decision_function(self, sessions: Sequence[Sequence[str]], event_texts: EventTexts | None = None) -> np.ndarray:
        """Anomaly score per session (higher is more anomalous); unseen templates give ``UNSEEN_SCORE``."""
        vocab = self._require_fitted()
        data = Sessions(list(sessions), None if event_texts is None else list(event_texts))
        scores = self._raw_decision(data) if len(data) else np.zeros(0)
        unseen = np.array([any(key not in vocab for key in s) for s in data.keys], dtype=bool)
        return np.where(unseen, UNSEEN_SCORE, scores).astype(np.float64)

    def predict(self, sessions: Sequence[Sequence[str]], event_texts: EventTexts | None = None) -> np.ndarray:
        """Whether each session is anomalous (score above ``threshold_``)."""
        return self.decision_function(sessions, event_texts) > self.threshold_

    def score_sessions(
        self, sessions: Sequence[Sequence[str]], event_texts: EventTexts | None = None
    ) -> list[tuple[float, bool]]:
        """(score, is_anomaly) per session, in order: one model pass for both."""
        scores = self.decision_function(sessions, event_texts)
        return [(float(s), bool(s > self.threshold_)) for s in scores]

    @property
    def known_templates(self) -> list[str]:
        """The template ids the model was trained on."""
        return list(self._require_fitted().keys)

    def thresholds(self) -> dict[str, float]:
        """Every fitted threshold by name (``session`` = ``threshold_``, ``event`` = ``event_threshold_``)."""
        return {"session": self.threshold_, "event": self.event_threshold_}

    def _load_thresholds(self, saved: dict[str, float]) -> None:
        self.threshold_ = float(saved["session"])
        self.event_threshold_ = float(saved["event"])

    def _vocab(self) -> Vocab:
        if self.vocab_ is None:
            raise RuntimeError(f"the {self.kind} estimator has no vocabulary yet")
        return self.vocab_

    def _require_fitted(self) -> Vocab:
        if self.vocab_ is None or self.network_ is None:
            raise RuntimeError(f"the {self.kind} estimator is not fitted; call fit() or from_pretrained()")
        return self.vocab_

    # -- persistence ------------------------------------------------------------------------------
    def save_pretrained(
        self, folder: str | Path, training_data: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None
    ) -> Path:
        """Write the model folder and seal it (thresholds live in ``fitted.json``, not the manifest)."""
        from safetensors.numpy import save_file
        from safetensors.torch import save_file as save_tensors

        vocab = self._require_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).write_text(json.dumps({"kind": self.kind, **self.config.model_dump()}, indent=2) + "\n")
        fitted = {"format": FORMAT_VERSION, "vocab": vocab.keys, "thresholds": self.thresholds(), **self._fitted_json()}
        (folder / FITTED_FILE).write_text(json.dumps(fitted, indent=2) + "\n")
        arrays = {name: np.ascontiguousarray(a) for name, a in self._fitted_arrays().items()}
        if arrays:
            save_file(arrays, str(folder / ARRAYS_FILE))
        for name, network in self._networks().items():
            weights = {key: tensor.detach().contiguous() for key, tensor in network.state_dict().items()}
            save_tensors(weights, str(folder / f"{name}.safetensors"))
        write_manifest(
            folder, kind=self.kind, metrics={**self.metrics_, **(metrics or {})}, training_data=training_data or {}
        )
        return folder

    @classmethod
    def from_pretrained(cls: type[E], folder: str | Path) -> E:
        """Load a sealed model folder (verified against its manifest) as the class of its kind."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        manifest = verify_model_folder(folder)
        target = estimator_class(manifest.kind)
        if not issubclass(target, cls):
            raise ValueError(f"{folder}: a {manifest.kind!r} model is not a {cls.__name__}")
        config = json.loads((folder / CONFIG_FILE).read_text())
        config.pop("kind", None)
        if (folder / FITTED_FILE).is_file():
            fitted = json.loads((folder / FITTED_FILE).read_text())
            arrays = load_file(str(folder / ARRAYS_FILE)) if (folder / ARRAYS_FILE).is_file() else {}
        else:  # format 1: vocabulary and arrays in config.json, thresholds in the manifest
            fitted = {"vocab": config.pop("vocab"), "thresholds": manifest.thresholds}
            arrays = target._legacy(config, fitted)
            config = {k: v for k, v in config.items() if k in target.config_class.model_fields}
        estimator = target(**config)
        estimator.vocab_ = Vocab(fitted["vocab"])
        estimator._load_thresholds(fitted["thresholds"])
        estimator._restore(folder, fitted, arrays)
        estimator.metrics_ = dict(manifest.metrics)
        return estimator  # type: ignore[return-value]

    def _load_network(self, folder: Path, name: str) -> Any:
        from safetensors.torch import load_file

        network = self._build_network()
        network.load_state_dict(load_file(str(folder / f"{name}.safetensors")))
        return network.eval()


def kfold_calibration_scores(
    estimator: AnomalyEstimator, data: Sessions, k: int, budget: TimeBudget, progress: bool
) -> Scores:
    """Calibration scores of every session from a model that did not train on it (k-fold).

    A model scores the sessions it trained on lower than new ones (HDFS: many normal sessions are one
    of a kind), so a threshold from its own training sessions flags new normal sessions. Fold models
    share the full vocabulary (so they can join an ensemble); a held-out session with a template its
    fold never saw is left out, since the final model knows that template.
    """
    cfg = estimator.config
    fold_of = np.random.default_rng(cfg.seed).permutation(len(data)) % k  # balanced, shuffled
    pooled: list[Scores] = []
    for fold in range(k):
        helper = type(estimator)(**{**cfg.model_dump(), "calibration_folds": 0, "seed": cfg.seed + 1 + fold})
        helper.vocab_ = estimator.vocab_
        fold_train = data.take(np.flatnonzero(fold_of != fold))
        helper._fit_networks(
            fold_train, seed=helper.config.seed, budget=budget, progress=progress,
            description=f"{estimator.kind} calibration fold {fold + 1}/{k}",
        )
        seen = {key for session in fold_train.keys for key in session}
        held = [i for i in np.flatnonzero(fold_of == fold) if all(key in seen for key in data.keys[i])]
        pooled.append(helper._calibration_scores(data.take(held)))
        estimator._keep_fold_model(helper)
    return {name: np.concatenate([p[name] for p in pooled]) for name in pooled[0]}


def quantile_or_floor(scores: np.ndarray, quantile: float, margin: float, floor: float = 1e-3) -> float:
    """The ``quantile`` of held-out normal scores times ``margin``, never below ``floor``: a zero threshold
    would flag any score at all."""
    if len(scores) == 0:
        raise ValueError("no held-out normal sessions to calibrate the threshold on")
    return max(float(np.quantile(np.asarray(scores, dtype=np.float64), quantile)) * margin, floor)


def estimator_class(kind: str) -> type[AnomalyEstimator]:
    """The estimator class of ``kind`` (imported now); ValueError names the known kinds."""
    try:
        module, name = ANOMALY_KINDS[kind].split(":")
    except KeyError:
        raise ValueError(f"unknown anomaly model kind {kind!r}; known: {', '.join(ANOMALY_KINDS)}") from None
    cls: type[AnomalyEstimator] = getattr(import_module(module), name)
    return cls
