"""Enriched test traffic: real Loghub lines replayed over hours, with injected incidents of known cause.

Used by tests/integration/test_findings.py and bench/findings.py; not part of the enricher package.

Normal traffic replays a Loghub ``*_2k.log_structured.csv`` in file order, over and over, with exponential
gaps between lines (the file's own bursts and lulls are kept), as documents shaped the way the service
writes them (``enrichment.template`` from the file's EventId and EventTemplate, ``classification.label``
from its level column or, without one, from failure words, a rare scattering of model anomalies). Four
incident kinds can be injected, each with the cause a findings run should name:

* ``spike``: tenfold rate of one template for 20 minutes (cause: that template);
* ``error_burst``: a known, occasional error template bursts on one host (cause: that host);
* ``new_path``: a new failing code path, an error template never seen before (cause: that template);
* ``silence``: the most regular template stops for good (cause: that template).
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

LEVELS = {"INFO": "INFO", "I": "INFO", "NOTICE": "INFO", "D": "INFO", "V": "INFO", "DEBUG": "INFO",
          "WARN": "WARNING", "WARNING": "WARNING", "W": "WARNING", "ERROR": "ERROR", "E": "ERROR",
          "FATAL": "CRITICAL", "SEVERE": "CRITICAL", "CRITICAL": "CRITICAL"}
FAILURE_WORDS = ("fail", "error", "exception", "refused", "denied", "invalid")
HOSTS = ("node-1", "node-2", "node-3", "node-4")
ERROR_TEMPLATE = "Connection to <*>:<*> lost: java.io.IOException: Broken pipe"
NEW_TEMPLATE = "Failed to commit transaction <*>: NullPointerException in StorageWriter.flush"
MODEL_VERSIONS = ["templates:sim", "classifier:sim"]


@dataclass(frozen=True)
class Line:
    message: str
    template_id: str
    template: str
    label: str


@dataclass(frozen=True)
class Injection:
    kind: str
    start: datetime
    end: datetime
    cause_kind: str  # template | source
    cause: str


def load_lines(path: Path) -> list[Line]:
    """The lines of a Loghub structured CSV, with template ids prefixed by the dataset's name."""
    dataset = path.name.split("_")[0]
    lines = []
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.DictReader(handle):
            label = LEVELS.get((row.get("Level") or "").upper())
            if label is None:
                label = "ERROR" if any(w in row["Content"].lower() for w in FAILURE_WORDS) else "INFO"
            lines.append(Line(row["Content"], f"{dataset}-{row['EventId']}", row["EventTemplate"], label))
    return lines


def template_id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def enriched(when: datetime, line: Line, host: str, rng: np.random.Generator, *, novel: bool = False,
             anomaly: bool | None = None, anomaly_rate: float = 0.0005) -> dict[str, Any]:
    """A document as the service leaves it (original fields plus ``enrichment``)."""
    is_anomaly = bool(rng.random() < anomaly_rate) if anomaly is None else anomaly
    enrichment: dict[str, Any] = {
        "status": "ok", "pipeline_version": "1", "enriched_at": when.isoformat(), "model_versions": MODEL_VERSIONS,
        "session": f"{host}/s{int(rng.integers(0, 50))}",
        "template": {"id": line.template_id, "text": line.template, "novel": novel},
        "classification": {"label": line.label, "confidence": 0.9, "model": "classifier:sim"},
        "anomaly": {"is_anomaly": is_anomaly, "score": 1.5 if is_anomaly else 0.2,
                    "reasons": ["sequence-lstm: unexpected next template"] if is_anomaly else []},
    }
    return {"@timestamp": when.isoformat(), "message": line.message, "host": host, "enrichment": enrichment}


def replay(lines: list[Line], start: datetime, end: datetime, rate: float, seed: int = 0,
           skip: set[str] | None = None, silence_from: datetime | None = None) -> Iterator[dict[str, Any]]:
    """The lines in file order, looping, ``rate`` per second on average, each from a random host."""
    rng = np.random.default_rng(seed)
    when, i = start, int(rng.integers(0, len(lines)))
    while True:
        when += timedelta(seconds=float(rng.exponential(1.0 / rate)))
        if when >= end:
            return
        line = lines[i % len(lines)]
        i += 1
        if silence_from is not None and when >= silence_from and skip and line.template_id in skip:
            continue
        yield enriched(when, line, HOSTS[int(rng.integers(0, len(HOSTS)))], rng)


def silence_candidate(lines: list[Line], per_bucket: int = 600) -> str:
    """The most frequent template found in (nearly) every stretch of one bucket's worth of lines: a regular one.

    Only a regular event type can be said to have gone silent; a frequent one that comes in a few long
    bursts per replay (HPC's) is absent from most buckets anyway.
    """
    ids = [line.template_id for line in lines]
    stretches = [{ids[(i + k) % len(ids)] for k in range(per_bucket)} for i in range(0, len(ids), per_bucket // 4)]
    counts = Counter(ids)
    regular = [t for t in counts if sum(t in stretch for stretch in stretches) >= 0.95 * len(stretches)]
    return max(regular, key=lambda t: (counts[t], t)) if regular else counts.most_common(1)[0][0]


def regular_templates(lines: list[Line]) -> list[str]:
    """Template ids by how often they occur, most frequent first."""
    return [tid for tid, _ in Counter(line.template_id for line in lines).most_common()]


def scenario(path: Path, start: datetime, history: timedelta, window: timedelta, rate: float = 2.0,
             seed: int = 0, inject: bool = True) -> tuple[list[dict[str, Any]], list[Injection]]:
    """Documents of ``history`` then ``window``, the four incidents injected in the window (if ``inject``)."""
    lines = load_lines(path)
    rng = np.random.default_rng(seed + 1)
    end = start + history + window
    w0 = start + history
    ranked = regular_templates(lines)
    silenced = silence_candidate(lines, per_bucket=int(rate * 300))
    spiked = next(t for t in ranked[2:] + ranked if t != silenced)
    injections = [
        Injection("spike", w0 + 0.12 * window, w0 + 0.12 * window + timedelta(minutes=20), "template", spiked),
        Injection("error_burst", w0 + 0.37 * window, w0 + 0.37 * window + timedelta(minutes=20), "source", HOSTS[1]),
        Injection("new_path", w0 + 0.62 * window, w0 + 0.62 * window + timedelta(minutes=15), "template",
                  template_id(NEW_TEMPLATE)),
        Injection("silence", w0 + 0.81 * window, end, "template", silenced),
    ] if inject else []
    docs = list(replay(lines, start, end, rate, seed, skip={silenced},
                       silence_from=injections[3].start if inject else None))
    docs += _occasional_errors(start, end, rng)
    if inject:
        docs += _spike(lines, spiked, injections[0], rng)
        docs += _burst(ERROR_TEMPLATE, "ERROR", injections[1], rate / 4, rng, host=HOSTS[1])
        docs += _burst(NEW_TEMPLATE, "ERROR", injections[2], rate / 10, rng, new=True)
    docs.sort(key=lambda doc: doc["@timestamp"])
    return docs, injections


def _occasional_errors(start: datetime, end: datetime, rng: np.random.Generator) -> list[dict[str, Any]]:
    """The known error template at its usual low rate (one every ~10 minutes, any host)."""
    line = Line("", template_id(ERROR_TEMPLATE), ERROR_TEMPLATE, "ERROR")
    docs, when = [], start
    while (when := when + timedelta(seconds=float(rng.exponential(600)))) < end:
        docs.append(enriched(when, _variant(line, rng), HOSTS[int(rng.integers(0, len(HOSTS)))], rng))
    return docs


def _spike(lines: list[Line], spiked: str, injection: Injection, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Nine more copies of every line of the template in the stretch: tenfold its rate."""
    examples = [line for line in lines if line.template_id == spiked]
    base = list(replay(lines, injection.start, injection.end, 2.0, seed=int(rng.integers(1 << 30))))
    count = sum(1 for doc in base if doc["enrichment"]["template"]["id"] == spiked) * 9
    return [enriched(_uniform(injection, rng), examples[int(rng.integers(0, len(examples)))],
                     HOSTS[int(rng.integers(0, len(HOSTS)))], rng) for _ in range(max(count, 9 * 20))]


def _burst(template: str, label: str, injection: Injection, rate: float, rng: np.random.Generator,
           host: str | None = None, new: bool = False) -> list[dict[str, Any]]:
    line = Line("", template_id(template), template, label)
    count = int((injection.end - injection.start).total_seconds() * rate)
    times = sorted(_uniform(injection, rng) for _ in range(count))
    return [enriched(when, _variant(line, rng), host or HOSTS[int(rng.integers(0, len(HOSTS)))], rng,
                     novel=new and i == 0, anomaly=True if new else None) for i, when in enumerate(times)]


def _variant(line: Line, rng: np.random.Generator) -> Line:
    message = line.template
    while "<*>" in message:
        message = message.replace("<*>", str(int(rng.integers(1000, 99999))), 1)
    return Line(message, line.template_id, line.template, line.label)


def _uniform(injection: Injection, rng: np.random.Generator) -> datetime:
    return injection.start + (injection.end - injection.start) * float(rng.random())


def index_mapping(namespace: str = "enrichment") -> dict[str, Any]:
    """Mapping of a test index of enriched documents (the enricher's own mapping for the namespace)."""
    from enricher.cluster.mappings import enrichment_mapping

    mapping = enrichment_mapping(namespace)
    mapping["properties"].update({"@timestamp": {"type": "date"}, "message": {"type": "text"},
                                  "host": {"type": "keyword"}})
    return mapping


def load(client: Any, index: str, docs: list[dict[str, Any]], *, prefix: str = "d") -> None:
    """Bulk-load documents into a new index (ids ``prefix`` + position), searchable when this returns."""
    from opensearchpy import helpers

    client.indices.create(index=index, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0,
                                                          "refresh_interval": "-1"},
                                             "mappings": index_mapping()})
    actions = ({"_index": index, "_id": f"{prefix}{i}", "_source": doc} for i, doc in enumerate(docs))
    helpers.bulk(client, actions, chunk_size=2000, request_timeout=120)
    client.indices.refresh(index=index)


@dataclass
class Evaluation:
    found: dict[str, int | None]  # injection kind -> rank of its cause in the matching incident (None: missed)
    false_findings: int
    findings: int
    documents: int

    @property
    def all_found_top3(self) -> bool:
        return all(rank is not None and rank <= 3 for rank in self.found.values())


def evaluate(findings: list[dict[str, Any]], incidents: list[dict[str, Any]], injections: list[Injection],
             documents: int, slack: timedelta) -> Evaluation:
    """Whether each injection's incident names its cause (and at which rank), and findings outside any."""
    def overlaps(start: str, end: str, injection: Injection) -> bool:
        return datetime.fromisoformat(start) < injection.end + slack and \
            datetime.fromisoformat(end) > injection.start - slack

    found: dict[str, int | None] = {}
    for injection in injections:
        ranks = [cause["rank"] for incident in incidents
                 if overlaps(incident["window"]["start"], incident["window"]["end"], injection)
                 for cause in incident["causes"]
                 if (cause["kind"], cause["value"]) == (injection.cause_kind, injection.cause)]
        found[injection.kind] = min(ranks) if ranks else None
    false = [f for f in findings if not any(overlaps(f["onset"], f["window"]["end"], i) for i in injections)]
    return Evaluation(found=found, false_findings=len(false), findings=len(findings), documents=documents)
