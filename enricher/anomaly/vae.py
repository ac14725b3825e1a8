"""Variational autoencoder over a session's template counts.

A session is a vector of log-scaled template counts plus a "complete" flag. The session VAE trains on
complete sessions (flag 1) and scores whole sessions offline, where a truncated session must look
wrong. A running session in the service is incomplete by nature, so with ``train_prefixes`` a second
VAE (``prefix.safetensors``) trains on every prefix of the sessions (flag 0) and gives the per-event
verdicts, against ``event_threshold_`` calibrated on prefixes of held-out normal sessions. Inputs are
standardised per template (with a floor on the spread), so a template every normal session holds weighs
a lot when it is missing. Event texts are not used. The session VAE is also a generator (``sample_sessions``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field

from enricher.anomaly.base import AnomalyEstimator, EstimatorConfig, RunningSession, Scores, Sessions
from enricher.anomaly.nets import CountVAE
from enricher.anomaly.training import TimeBudget, train_weighted, unique_rows
from enricher.anomaly.vocab import SPECIAL_TOKENS
from enricher.records import AnomalyEvent

PREFIX = "prefix"  # the running-session VAE's file stem and array prefix


class VaeConfig(EstimatorConfig):
    # One training row per distinct session (HDFS: 55 of 3,107): epochs are cheap and it needs many
    # full-batch steps; smaller batches instead (min_batches) raised the false positives fivefold on HDFS.
    epochs: int = Field(400, ge=1, description="most passes over the distinct whole-session vectors")
    prefix_epochs: int = Field(150, ge=1, description="most passes over the distinct running-session vectors")
    min_batches: int = Field(1, ge=1, description="small data: shrink the batch until an epoch has this many steps")
    hidden: int = Field(64, ge=1)
    latent: int = Field(4, ge=1, description="size of the latent space (small: it must not rebuild anything)")
    beta: float = Field(0.1, ge=0.0, description="weight of the KL term")
    train_prefixes: bool = Field(
        True,
        description="also train a second VAE on running sessions (prefixes) for the service's per-event "
        "verdicts; the session VAE still sees complete sessions only",
    )
    std_floor: float = Field(0.25, gt=0.0, description="smallest per-template spread when standardising")


class VaeDetector(AnomalyEstimator):
    kind: ClassVar[str] = "autoencoder-vae"
    family: ClassVar[str] = "autoencoder"
    config_class: ClassVar[type[EstimatorConfig]] = VaeConfig
    config: VaeConfig

    def __init__(self, **hyper: Any) -> None:
        super().__init__(**hyper)
        self.prefix_network_: torch.nn.Module | None = None  # running sessions (service verdicts)
        self.input_mean_: np.ndarray | None = None
        self.input_std_: np.ndarray | None = None
        self.prefix_mean_: np.ndarray | None = None
        self.prefix_std_: np.ndarray | None = None
        self.event_position_: np.ndarray | None = None  # (vocab, 2): mean relative first/last position

    @property
    def networks_per_fit(self) -> int:
        return 2 if self.config.train_prefixes else 1

    # -- inputs -----------------------------------------------------------------------------------
    def count_vector(self, token_counts: dict[int, int], complete: bool) -> np.ndarray:
        vector = np.zeros(len(self._vocab()) + 1, dtype=np.float32)
        vector[list(token_counts)] = np.log1p(list(token_counts.values()))
        vector[-1] = 1.0 if complete else 0.0
        return vector

    def _vectors(self, session: Sequence[str], prefixes: bool) -> np.ndarray:
        """Count vectors of every running prefix (flag 0, with ``prefixes``) and then of the whole session."""
        counts: dict[int, int] = {}
        rows = []
        for token in self._vocab().ids(session):
            counts[token] = counts.get(token, 0) + 1
            if prefixes:
                rows.append(self.count_vector(counts, complete=False))
        rows.append(self.count_vector(counts, complete=True))
        return np.stack(rows)

    # -- training ---------------------------------------------------------------------------------
    def _fit_networks(
        self, train: Sessions, *, seed: int, budget: TimeBudget, progress: bool, description: str
    ) -> tuple[list[float], int]:
        torch.manual_seed(seed)
        self.event_position_ = self._event_positions(train.keys)
        whole = np.stack([self._vectors(s, prefixes=False)[-1] for s in train.keys])
        self.network_ = self._build_network()
        self.input_mean_, self.input_std_, history, n_rows = self._fit_count_vae(
            self.network_, whole, self.config.epochs, seed, budget, progress, description
        )
        self.prefix_network_ = None
        if self.config.train_prefixes:
            prefixes = np.concatenate([self._vectors(s, prefixes=True)[:-1] for s in train.keys if s])
            self.prefix_network_ = self._build_network()
            self.prefix_mean_, self.prefix_std_, _, _ = self._fit_count_vae(
                self.prefix_network_, prefixes, self.config.prefix_epochs, seed, budget, progress,
                f"{description} (prefixes)",
            )
        return history, n_rows

    def _event_positions(self, sessions: Sequence[Sequence[str]]) -> np.ndarray:
        """Per token, the mean relative position (0 start, 1 end) of its first and of its last occurrence.

        Only the generator uses it (counts carry no order); a token never seen sits in the middle.
        """
        totals = np.zeros((len(self._vocab()), 2))
        seen = np.zeros(len(self._vocab()))
        for session in sessions:
            span = max(len(session) - 1, 1)
            first: dict[int, int] = {}
            last: dict[int, int] = {}
            for index, token in enumerate(self._vocab().ids(session)):
                first.setdefault(token, index)
                last[token] = index
            for token, index in first.items():
                totals[token] += (index / span, last[token] / span)
                seen[token] += 1
        positions = np.full_like(totals, 0.5)
        known = seen > 0
        positions[known] = totals[known] / seen[known, None]
        return positions.astype(np.float32)

    def _fit_count_vae(
        self, network: torch.nn.Module, vectors: np.ndarray, epochs: int, seed: int, budget: TimeBudget,
        progress: bool, description: str,
    ) -> tuple[np.ndarray, np.ndarray, list[float], int]:
        cfg = self.config
        mean = vectors.mean(0).astype(np.float32)
        std = np.maximum(vectors.std(0), cfg.std_floor).astype(np.float32)
        distinct, _, counts = unique_rows(((vectors - mean) / std).astype(np.float32))

        def row_loss(x: torch.Tensor) -> torch.Tensor:
            rebuilt, mu, log_var = network(x)
            return network.reconstruction_error(x, rebuilt) + cfg.beta * network.kl(mu, log_var)

        history = train_weighted(
            network, [torch.from_numpy(distinct)], torch.from_numpy(counts).float(), row_loss,
            epochs=epochs, batch_size=cfg.batch_size, min_batches=cfg.min_batches,
            learning_rate=cfg.learning_rate, seed=seed, progress=progress, description=description, budget=budget,
        )
        return mean, std, history, len(distinct)

    def _build_network(self) -> torch.nn.Module:
        return CountVAE(len(self._vocab()) + 1, self.config.hidden, self.config.latent)

    def _calibration_scores(self, held_out: Sessions) -> Scores:
        """Per session: its score as a whole, and its worst running prefix (what the service sees)."""
        vectors = [self._vectors(s, prefixes=True) for s in held_out.keys]
        if not vectors:
            return {"session": np.zeros(0), "event": np.zeros(0)}
        whole = self.vector_errors(np.stack([v[-1] for v in vectors]))
        running = self.vector_errors(np.concatenate([v[:-1] for v in vectors]), running=True)
        parts = np.split(running, np.cumsum([len(v) - 1 for v in vectors])[:-1])
        return {"session": whole, "event": np.array([p.max() if len(p) else 0.0 for p in parts])}

    # -- scoring ----------------------------------------------------------------------------------
    @torch.no_grad()
    def vector_errors(self, vectors: np.ndarray, running: bool = False) -> np.ndarray:
        """Reconstruction error of each (raw, log-scaled) count vector; ``running`` ones (sessions in
        progress, flag 0) go to the prefix VAE when there is one."""
        network, mean, std = self.network_, self.input_mean_, self.input_std_
        if running and self.prefix_network_ is not None:
            network, mean, std = self.prefix_network_, self.prefix_mean_, self.prefix_std_
        if network is None or len(vectors) == 0:
            return np.zeros(len(vectors))
        if mean is not None and std is not None:
            vectors = ((vectors - mean) / std).astype(np.float32)
        distinct, inverse, _ = unique_rows(vectors)
        x = torch.from_numpy(distinct.astype(np.float32))
        rebuilt, _, _ = network(x)
        return network.reconstruction_error(x, rebuilt).double().numpy()[inverse]

    def _raw_decision(self, data: Sessions) -> np.ndarray:  # the whole sessions only (no prefixes)
        return self.vector_errors(np.stack([self._vectors(s, prefixes=False)[-1] for s in data.keys]))

    # -- generation -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_sessions(self, count: int, rng: np.random.Generator) -> list[list[str]]:
        """``count`` synthetic complete sessions decoded from draws of the session VAE's latent prior.

        The decoder's output is taken as the typical count (no noise is added). The k-th of n occurrences of
        a template sits between its learned typical first and last relative positions, ties by token id; a
        model saved before positions were learned orders by token id (templates' natural order) alone.
        """
        vocab = self._require_fitted()
        network = self.network_
        assert network is not None and self.input_mean_ is not None and self.input_std_ is not None
        z = torch.from_numpy(rng.standard_normal((count, self.config.latent)).astype(np.float32))
        log_counts = network.decoder(z).double().numpy() * self.input_std_ + self.input_mean_
        counts = np.rint(np.expm1(np.clip(log_counts[:, :-1], 0.0, None))).astype(int)
        counts[:, : len(SPECIAL_TOKENS)] = 0  # pad/unk/bos/eos: never a real event
        return [[vocab.key(token) for token in self._ordered_tokens(row)] for row in counts]

    def _ordered_tokens(self, counts: np.ndarray) -> list[int]:
        """Tokens repeated by their counts, in typical order (see ``sample_sessions``)."""
        placed: list[tuple[float, int, int]] = []
        for token in np.flatnonzero(counts):
            n = int(counts[token])
            first, last = (0.0, 0.0) if self.event_position_ is None else self.event_position_[token]
            for k in range(n):
                placed.append((float(first + (last - first) * k / max(n - 1, 1)), int(token), k))
        return [token for _, token, _ in sorted(placed)]

    # -- streaming (the service) ------------------------------------------------------------------
    def start_running(self) -> dict[str, int]:
        return {}  # template id -> count so far

    def score_running(
        self, sessions: Sequence[RunningSession], events: Sequence[AnomalyEvent]
    ) -> list[tuple[float, str | None]]:
        vocab = self._require_fitted()
        vectors = []
        for session, event in zip(sessions, events):
            session.memory[event.template_id] = session.memory.get(event.template_id, 0) + 1
            token_counts: Counter[int] = Counter()
            for key, count in session.memory.items():
                token_counts[vocab.id(key)] += count
            vectors.append(self.count_vector(token_counts, complete=False))
        errors = self.vector_errors(np.stack(vectors), running=True) if vectors else np.zeros(0)
        return self._reconstruction_verdicts(sessions, events, errors, "running template counts")

    def running_to_json(self, memory: dict[str, int], intern: Callable[[str], int]) -> list[list[int]]:
        return [[intern(key), count] for key, count in memory.items()]

    def running_from_json(self, saved: list[list[int]], lookup: Callable[[int], str]) -> dict[str, int]:
        return {lookup(int(index)): int(count) for index, count in saved}

    # -- persistence ------------------------------------------------------------------------------
    def _networks(self) -> dict[str, Any]:
        assert self.network_ is not None
        return {"model": self.network_, **({PREFIX: self.prefix_network_} if self.prefix_network_ is not None else {})}

    def _fitted_arrays(self) -> dict[str, np.ndarray]:
        named = {"input_mean": self.input_mean_, "input_std": self.input_std_,
                 "prefix_mean": self.prefix_mean_, "prefix_std": self.prefix_std_,
                 "event_position": self.event_position_}
        return {name: array for name, array in named.items() if array is not None}

    def _restore(self, folder: Path, fitted: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.input_mean_, self.input_std_ = arrays.get("input_mean"), arrays.get("input_std")
        self.event_position_ = arrays.get("event_position")  # absent in models saved before the generator
        self.network_ = self._load_network(folder, "model")
        if (folder / f"{PREFIX}.safetensors").is_file():
            self.prefix_network_ = self._load_network(folder, PREFIX)
            self.prefix_mean_, self.prefix_std_ = arrays.get("prefix_mean"), arrays.get("prefix_std")

    @classmethod
    def _legacy(cls, config: dict[str, Any], fitted: dict[str, Any]) -> dict[str, np.ndarray]:
        config["latent"] = config.pop("vae_latent", cls.config_class.model_fields["latent"].default)
        saved = {name: config.pop(name, None) for name in ("input_mean", "input_std", "prefix_mean", "prefix_std")}
        return {name: np.asarray(value, dtype=np.float32) for name, value in saved.items() if value is not None}
