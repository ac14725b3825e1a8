"""The enrichment pipeline: validated message -> template -> classification -> anomaly verdicts.

Pure of OpenSearch: it takes plain inputs and returns the namespace fields for each, so the service,
the CLI and offline evaluation run the same stages. Each stage is loaded from the model registry by the
service (:func:`build_pipeline`); any of them may be absent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from enricher.records import AnomalyEvent, AnomalyVerdict, Classification, TemplateMatch
from enricher.templates import TemplateMiner

OK = "ok"
ERROR = "error"


@dataclass(slots=True)
class LogInput:
    """What the pipeline needs of one document."""

    message: Any  # validated here: documents hold anything
    session_key: str
    timestamp: float | None = None


class ClassifierLike(Protocol):
    model_version: str

    def classify(self, texts: list[str], cache_keys: list[str] | None = None) -> list[Classification]: ...


class AnomalyStageLike(Protocol):
    @property
    def known_templates(self) -> list[str]: ...  # template ids the model was trained on

    def score(self, events: list[AnomalyEvent]) -> list[AnomalyVerdict]: ...

    def to_state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


@dataclass
class AnomalyScorer:
    kind: str  # registry kind, e.g. "sequence-lstm"
    family: str  # "sequence" or "autoencoder": where its verdict is written
    version: str
    stage: AnomalyStageLike


@dataclass
class EnrichmentPipeline:
    miner: TemplateMiner
    pipeline_version: str
    max_message_bytes: int = 65_536
    classifier: ClassifierLike | None = None
    classifier_version: str | None = None
    scorers: list[AnomalyScorer] = field(default_factory=list)

    @property
    def templates_version(self) -> str:
        config = json.dumps(self.miner.config.model_dump(mode="json"), sort_keys=True)
        return "templates:" + hashlib.sha1(config.encode()).hexdigest()[:8]

    @property
    def model_versions(self) -> list[str]:
        versions = [self.templates_version]
        if self.classifier is not None:
            versions.append(f"classifier:{self.classifier_version}")
        versions += [f"{s.kind}:{s.version}" for s in self.scorers]
        return versions

    def enrich(
        self,
        inputs: list[LogInput],
        novel_templates: Callable[[dict[str, str]], set[str]] | None = None,
    ) -> list[dict[str, Any]]:
        """The namespace fields for each input, in order.

        ``novel_templates`` receives the templates this miner saw for the first time and returns those
        that are new to the whole deployment (the service asks its template store); without it, a
        template new to this miner is novel.
        """
        enriched_at = datetime.now(timezone.utc).isoformat()
        results: list[dict[str, Any]] = [self._header(enriched_at) for _ in inputs]
        matches: dict[int, TemplateMatch] = {}
        for position, item in enumerate(inputs):
            problem = self._validate(item.message)
            if problem is None:
                try:
                    matches[position] = self.miner.add(item.message)
                except Exception as exc:  # one unparseable message must not stop the batch
                    problem = f"template mining failed: {type(exc).__name__}: {exc}"[:500]
            if problem is not None:
                results[position].update(status=ERROR, error=problem)
        if not matches:
            return results
        positions = list(matches)
        novel = self._novel_ids(matches, novel_templates)
        for position in positions:
            match = matches[position]
            results[position]["template"] = {
                "id": match.template_id, "text": match.template,
                "params": match.params, "novel": match.is_new and match.template_id in novel,
            }
            results[position]["session"] = inputs[position].session_key
        if self.classifier is not None:
            self._classify(positions, matches, results)
        if self.scorers:
            self._score_anomalies(positions, matches, inputs, results)
        return results

    def _header(self, enriched_at: str) -> dict[str, Any]:
        return {
            "status": OK,
            "pipeline_version": self.pipeline_version,
            "enriched_at": enriched_at,
            "model_versions": self.model_versions,
        }

    def _validate(self, message: Any) -> str | None:
        if message is None:
            return "no message: the message field is missing or null"
        if not isinstance(message, str):
            return f"message is a {type(message).__name__}, not a string"
        if not message.strip():
            return "message is empty"
        size = len(message.encode("utf-8", errors="surrogatepass"))
        if size > self.max_message_bytes:
            return f"message is {size} bytes, over the limit of {self.max_message_bytes}"
        return None

    @staticmethod
    def _novel_ids(
        matches: dict[int, TemplateMatch], novel_templates: Callable[[dict[str, str]], set[str]] | None
    ) -> set[str]:
        new_here = {m.template_id: m.template for m in matches.values() if m.is_new}
        if novel_templates is None or not new_here:
            return set(new_here)
        return novel_templates(new_here)

    def _classify(self, positions: list[int], matches: dict[int, TemplateMatch], results: list[dict[str, Any]]) -> None:
        assert self.classifier is not None
        texts = [matches[p].template for p in positions]
        keys = [matches[p].template_id for p in positions]
        model = f"classifier:{self.classifier_version}"
        for position, prediction in zip(positions, self.classifier.classify(texts, cache_keys=keys)):
            results[position]["classification"] = {
                "label": prediction.label, "confidence": round(float(prediction.confidence), 4), "model": model,
            }

    def _score_anomalies(
        self, positions: list[int], matches: dict[int, TemplateMatch], inputs: list[LogInput], results: list[dict[str, Any]]
    ) -> None:
        events = [
            AnomalyEvent(
                session_key=inputs[p].session_key, template_id=matches[p].template_id,
                template=matches[p].template, message=inputs[p].message, timestamp=inputs[p].timestamp,
            )
            for p in positions
        ]
        verdicts_by_scorer = [(scorer, scorer.stage.score(self._as_trained(scorer, events))) for scorer in self.scorers]
        for row, position in enumerate(positions):
            results[position]["anomaly"] = combine_verdicts(
                [(scorer, verdicts[row]) for scorer, verdicts in verdicts_by_scorer]
            )

    def _as_trained(self, scorer: AnomalyScorer, events: list[AnomalyEvent]) -> list[AnomalyEvent]:
        """Events with template ids as the model learned them.

        A template that generalised after training has a new id; the miner's alias map leads from the
        id the model knows to the current one, so the model still recognises it.
        """
        trained_ids = scorer.stage.known_templates
        if not trained_ids:
            return events
        known = set(trained_ids)
        current_to_trained = {}
        for trained in trained_ids:
            current = self.miner.canonical_id(trained)
            if current != trained and current not in known:
                current_to_trained[current] = trained
        if not current_to_trained:
            return events
        return [
            replace(event, template_id=current_to_trained[event.template_id])
            if event.template_id in current_to_trained else event
            for event in events
        ]

    def to_state(self) -> dict[str, Any]:
        return {
            "miner": self.miner.to_state(),
            "scorers": {scorer.kind: {"version": scorer.version, "state": scorer.stage.to_state()} for scorer in self.scorers},
        }

    def load_scorer_states(self, states: dict[str, Any]) -> None:
        """Restore session windows; a state written by another model version is dropped, not misapplied."""
        for scorer in self.scorers:
            saved = states.get(scorer.kind)
            if saved and saved.get("version") == scorer.version:
                scorer.stage.load_state(saved["state"])


def _ratio(verdict: AnomalyVerdict) -> float:
    return verdict.score / verdict.threshold if verdict.threshold > 0 else verdict.score


def combine_verdicts(verdicts: list[tuple[AnomalyScorer, AnomalyVerdict]]) -> dict[str, Any]:
    """One verdict per event from every model's.

    Scores of different models are not comparable, so the combined ``score`` is the largest
    score/threshold ratio: 1.0 or more means at least one model found the event anomalous. Within each
    family (sequence, autoencoder) the most alarmed model's verdict is written.
    """
    combined: dict[str, Any] = {"score": 0.0, "is_anomaly": False, "reasons": []}
    for family in ("sequence", "autoencoder"):
        members = [(s, v) for s, v in verdicts if s.family == family]
        if not members:
            continue
        scorer, verdict = max(members, key=lambda pair: _ratio(pair[1]))
        combined[family] = {
            "score": round(float(verdict.score), 6), "threshold": round(float(verdict.threshold), 6),
            "is_anomaly": bool(verdict.is_anomaly), "model": f"{scorer.kind}:{scorer.version}",
        }
    for scorer, verdict in verdicts:
        combined["score"] = max(combined["score"], round(float(_ratio(verdict)), 6))
        if verdict.is_anomaly:
            combined["is_anomaly"] = True
            combined["reasons"] += [f"{scorer.kind}: {reason}" for reason in verdict.reasons] or [
                f"{scorer.kind}: score {verdict.score:.4g} above threshold {verdict.threshold:.4g}"
            ]
    return combined
