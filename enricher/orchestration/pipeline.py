"""The enrichment pipeline: validated message -> template -> classification -> anomaly verdicts.

Pure of OpenSearch: it takes plain inputs and returns the namespace fields for each, so the service,
the CLI and offline evaluation run the same stages. Each stage is loaded from the model registry by the
service (:func:`enricher.orchestration.loading.build_pipeline`); any of them may be absent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from datetime import datetime, timezone
from typing import Any, Protocol

from enricher.caching import BoundedDict
from enricher.records import (OK, UNSEEN_SCORE, AnomalyEvent, AnomalyFields, AnomalyVerdict, Classification,
                              ClassificationFields, Enrichment, LogInput, ModelVerdictFields, TemplateFields,
                              TemplateMatch)
from enricher.severity import normalize_severity
from enricher.templates import PartitionedMiner


@dataclass(slots=True)
class NoveltyCandidate:
    """A template of a batch, with where it first appears in the batch and whether the miner just made it
    (from any of its messages in the batch)."""

    text: str
    position: int
    new_to_miner: bool


# (the batch's templates, {id aliased while mining the batch: its current id}) -> the ids novel in the batch
NoveltyJudge = Callable[[dict[str, NoveltyCandidate], dict[str, str]], set[str]]


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

    @cached_property
    def known(self) -> frozenset[str]:
        """The template ids the model was trained on (fixed once it is loaded)."""
        return frozenset(self.stage.known_templates)


@dataclass
class EnrichmentPipeline:
    miner: PartitionedMiner
    pipeline_version: str
    max_message_bytes: int = 65_536
    classifier: ClassifierLike | None = None
    classifier_version: str | None = None
    scorers: list[AnomalyScorer] = field(default_factory=list)
    missing_models: list[str] = field(default_factory=list)  # configured kinds that could not be loaded
    novel_template_flags: int = 100  # per template no anomaly model knows (see models.novel_template_flags)
    _unknown_seen: BoundedDict[str, int] = field(default_factory=lambda: BoundedDict(100_000), repr=False)

    @property
    def model_versions(self) -> list[str]:
        config = json.dumps(self.miner.config.model_dump(mode="json"), sort_keys=True)
        versions = ["templates:" + hashlib.sha1(config.encode()).hexdigest()[:8]]
        if self.classifier is not None:
            versions.append(f"classifier:{self.classifier_version}")
        versions += [f"{s.kind}:{s.version}" for s in self.scorers]
        return versions

    def enrich(self, inputs: list[LogInput], judge_novelty: NoveltyJudge | None = None) -> list[Enrichment]:
        """The enrichment of each input, in order.

        Every document of the batch carries the template's id as it is at the end of the batch: a template
        that generalised (or merged) while the batch was mined gives its earlier documents its current id.
        A template is novel on its first position in the batch if ``judge_novelty`` says so (the service asks
        its template store); without a judge, a template new to this miner is novel.
        """
        enriched_at = datetime.now(timezone.utc).isoformat()
        versions, missing = self.model_versions, list(self.missing_models)  # once per batch, not per document
        results = [Enrichment(OK, self.pipeline_version, enriched_at, versions, missing_models=missing)
                   for _ in inputs]
        matches: dict[int, TemplateMatch] = {}
        for position, item in enumerate(inputs):
            problem = self._validate(item.message)
            if problem is None:
                try:
                    matches[position] = self.miner.add(item.message, partition=self.partition_for(item.partition))
                except Exception as exc:  # one unparseable message must not stop the batch
                    problem = f"template mining failed: {type(exc).__name__}: {exc}"[:500]
            if problem is not None:
                results[position].failed(problem)
        if not matches:
            return results
        aliases = self.miner.take_aliases()
        if aliases:
            self._to_current_ids(matches, inputs)
        novel_at = self._novel_positions(matches, aliases, judge_novelty)
        for position, match in matches.items():
            results[position].template = TemplateFields(match.template_id, match.template, match.params,
                                                        novel=position in novel_at)
            results[position].session = inputs[position].session_key
        self._classify(matches, inputs, results)
        if self.scorers:
            self._score_anomalies(matches, inputs, results)
        return results

    def partition_for(self, partition: str) -> str:
        """The source's own miner, unless there are too many sources already (they then share one)."""
        limit = getattr(self.miner.config, "max_partitions", None)
        if not partition or limit is None or self.miner.miner(partition) is not None \
                or len(self.miner.partitions()) < limit:
            return partition
        return ""

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

    def _to_current_ids(self, matches: dict[int, TemplateMatch], inputs: list[LogInput]) -> None:
        """Matches whose template was aliased later in the batch take its current id, text and values."""
        for position, match in matches.items():
            current = self.miner.canonical_id(match.template_id)
            text = self.miner.template_of(current) if current != match.template_id else None
            if text is not None:
                params = self.miner.extract_params(text, inputs[position].message)
                matches[position] = TemplateMatch(current, text, params, match.is_new)

    @staticmethod
    def _novel_positions(matches: dict[int, TemplateMatch], aliases: dict[str, str],
                         judge_novelty: NoveltyJudge | None) -> set[int]:
        candidates: dict[str, NoveltyCandidate] = {}
        for position, match in matches.items():  # in batch order: setdefault keeps each template's first position
            candidate = candidates.setdefault(match.template_id, NoveltyCandidate(match.template, position, False))
            candidate.new_to_miner |= match.is_new
        if judge_novelty is None:
            novel = {tid for tid, c in candidates.items() if c.new_to_miner}
        else:
            novel = judge_novelty(candidates, aliases)
        return {candidates[tid].position for tid in novel if tid in candidates}

    def _classify(self, matches: dict[int, TemplateMatch], inputs: list[LogInput], results: list[Enrichment]) -> None:
        """The level a document states is its classification; the classifier answers for the rest."""
        by_model = []
        for position in matches:
            level = inputs[position].level
            if level is not None:
                results[position].classification = ClassificationFields(
                    normalize_severity(level), 1.0, "document", source="document")
            else:
                by_model.append(position)
        if self.classifier is None or not by_model:
            return
        texts = [matches[p].template for p in by_model]
        keys = [matches[p].template_id for p in by_model]
        model = f"classifier:{self.classifier_version}"
        for position, prediction in zip(by_model, self.classifier.classify(texts, cache_keys=keys)):
            results[position].classification = ClassificationFields(
                prediction.label, round(float(prediction.confidence), 4), model)

    def _score_anomalies(self, matches: dict[int, TemplateMatch], inputs: list[LogInput],
                         results: list[Enrichment]) -> None:
        events = [AnomalyEvent(session_key=inputs[p].session_key, template_id=match.template_id,
                               template=match.template, message=inputs[p].message, timestamp=inputs[p].timestamp)
                  for p, match in matches.items()]
        scored = []
        for scorer in self.scorers:
            as_trained = self._as_trained(scorer, events)
            scored.append((scorer, as_trained, scorer.stage.score(as_trained)))
        for row, position in enumerate(matches):
            # A verdict driven by a template the model never saw is no measurement: the model abstains.
            measured = [(scorer, verdicts[row]) for scorer, _, verdicts in scored if verdicts[row].score < UNSEEN_SCORE]
            unknown = all(trained[row].template_id not in scorer.known for scorer, trained, _ in scored)
            results[position].anomaly = combine_verdicts(
                measured, novel_template=unknown and self._within_grace(events[row].template_id))

    def _within_grace(self, template_id: str) -> bool:
        """Count a document of a template the models do not know; True for its first few (the grace)."""
        seen = self._unknown_seen.get(template_id, 0) + 1
        self._unknown_seen.put(template_id, seen)
        return seen <= self.novel_template_flags

    def _as_trained(self, scorer: AnomalyScorer, events: list[AnomalyEvent]) -> list[AnomalyEvent]:
        """Events with template ids as the model learned them: a template that generalised after training has
        a new id, and the miner's alias map leads from the id the model knows to the current one."""
        current_to_trained = {}
        for trained in scorer.stage.known_templates:
            current = self.miner.canonical_id(trained)
            if current != trained and current not in scorer.known:
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
            "scorers": {s.kind: {"version": s.version, "state": s.stage.to_state()} for s in self.scorers},
        }

    def load_scorer_states(self, states: dict[str, Any]) -> None:
        """Restore session windows; a state written by another model version is dropped, not misapplied."""
        for scorer in self.scorers:
            saved = states.get(scorer.kind)
            if saved and saved.get("version") == scorer.version:
                scorer.stage.load_state(saved["state"])


DEFAULT_REASON_CODES = {"sequence": "unexpected_event", "autoencoder": "unusual_session"}


def _ratio(verdict: AnomalyVerdict) -> float:
    return verdict.score / verdict.threshold if verdict.threshold > 0 else verdict.score


def bounded_score(ratio: float) -> float:
    """A score/threshold ratio on a bounded, comparable scale: itself up to 1, then 2 - 1/ratio (< 2)."""
    return ratio if ratio <= 1.0 else 2.0 - 1.0 / ratio


NOVEL_TEMPLATE = "novel_template"
NOVEL_TEMPLATE_RATIO = 2.0  # a novel template scores as twice a threshold: 1.5 on the bounded scale


def combine_verdicts(
    verdicts: list[tuple[AnomalyScorer, AnomalyVerdict]], *, novel_template: bool = False
) -> AnomalyFields:
    """One verdict per event from every model's (and the novel-template signal).

    Scores of different models are not comparable, so the combined ``score`` is the largest
    score/threshold ratio on a bounded scale (:func:`bounded_score`): 1.0 or more means at least one model
    found the event anomalous. Within each family (sequence, autoencoder) the most alarmed model's verdict
    is written.
    """
    combined = AnomalyFields()
    for family in ("sequence", "autoencoder"):
        members = [(s, v) for s, v in verdicts if s.family == family]
        if not members:
            continue
        scorer, verdict = max(members, key=lambda pair: _ratio(pair[1]))
        setattr(combined, family, ModelVerdictFields(
            round(float(verdict.score), 6), round(float(verdict.threshold), 6), bool(verdict.is_anomaly),
            f"{scorer.kind}:{scorer.version}"))
    ratio = max((float(_ratio(verdict)) for _, verdict in verdicts), default=0.0)
    if novel_template:
        ratio = max(ratio, NOVEL_TEMPLATE_RATIO)
        combined.is_anomaly = True
        combined.kind.append(NOVEL_TEMPLATE)
        combined.reason_code.append(NOVEL_TEMPLATE)
        combined.reasons.append("template never seen by the anomaly models (retrain to teach it to them)")
    combined.score = round(bounded_score(max(ratio, 0.0)), 6)
    for scorer, verdict in verdicts:
        if verdict.is_anomaly:
            combined.is_anomaly = True
            if scorer.family not in combined.kind:
                combined.kind.append(scorer.family)
            code = verdict.code or DEFAULT_REASON_CODES.get(scorer.family, scorer.family)
            if code not in combined.reason_code:
                combined.reason_code.append(code)
            combined.reasons += [f"{scorer.kind}: {reason}" for reason in verdict.reasons] or [
                f"{scorer.kind}: score {verdict.score:.4g} above threshold {verdict.threshold:.4g}"
            ]
    return combined
