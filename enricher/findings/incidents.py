"""Incidents: findings and anomaly bursts close in time, with ranked root-cause candidates and evidence.

Members (trend findings, and buckets where one template drew several anomalies) are sorted by onset and
chained: a member whose onset is within ``incident_gap`` of the previous one joins its incident. Candidates
are the templates, hosts/services and sessions involved, each scored by the strength of its evidence
(log of a robust z-score, or of a concentration z-score against the baseline share) and weighted up the
earlier it started: where an incident started is what an operator wants first.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

import numpy as np

from enricher.findings.aggregate import Counts, Evidence
from enricher.findings.series import DROP, NEW_TEMPLATE_BURST, SILENCE, Finding

EARLINESS_WEIGHT = 0.5
MIN_CONCENTRATION_Z = 3.0
MIN_CONCENTRATION_SHARE = 0.3
NOVEL_BONUS = 0.5
MIN_SHARE_OF_BEST = 0.05


@dataclass
class Member:
    onset: datetime
    end: datetime
    finding: Finding | None = None
    template_id: str | None = None  # anomaly bursts
    anomalies: float = 0.0


@dataclass
class Candidate:
    kind: str  # template | source | session
    value: str
    label: str
    score: float
    onset: datetime | None
    reasons: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    query: str = ""
    url: str = ""


@dataclass
class Incident:
    members: list[Member]
    candidates: list[Candidate] = field(default_factory=list)
    key_terms: list[tuple[str, float]] = field(default_factory=list)
    evidence_docs: list[dict] = field(default_factory=list)
    evidence_total: int = 0

    @property
    def start(self) -> datetime:
        return min(m.onset for m in self.members)

    @property
    def end(self) -> datetime:
        return max(m.end for m in self.members)

    @property
    def findings(self) -> list[Finding]:
        return [m.finding for m in self.members if m.finding is not None]

    def templates(self) -> list[str]:
        ids = {m.finding.template_id if m.finding else m.template_id for m in self.members}
        return sorted(i for i in ids if i)

    def sources(self) -> list[str]:
        return sorted({f.source.split("=", 1)[1] for f in self.findings if f.source})


def anomaly_members(counts: Counts, minimum: int) -> list[Member]:
    """Window buckets where one template drew at least ``minimum`` anomalies."""
    grid = counts.grid
    members = []
    for template_id, series in counts.template_anomalies.items():
        window = series[grid.baseline:]
        for j in np.flatnonzero(window >= minimum):
            start = grid.time(grid.baseline + int(j))
            members.append(Member(onset=start, end=start + grid.bucket, template_id=template_id,
                                  anomalies=float(window[j])))
    return members


def group(members: list[Member], gap: timedelta) -> list[Incident]:
    incidents: list[Incident] = []
    for member in sorted(members, key=lambda m: (m.onset, m.end)):
        if incidents and member.onset - max(m.onset for m in incidents[-1].members) <= gap:
            incidents[-1].members.append(member)
        else:
            incidents.append(Incident(members=[member]))
    return incidents


def rank(incident: Incident, counts: Counts, evidence: Evidence, *, source_field: str | None, namespace: str,
         limit: int) -> list[Candidate]:
    """The incident's candidate causes, most likely first."""
    candidates = _template_candidates(incident, counts) + _source_candidates(incident, counts, evidence, source_field)
    candidates += _session_candidates(evidence, namespace)
    span = (incident.end - incident.start).total_seconds() + counts.grid.bucket.total_seconds()
    for candidate in candidates:
        lateness = 0.0 if candidate.onset is None else (candidate.onset - incident.start).total_seconds() / span
        candidate.score = round(candidate.score * (1 + EARLINESS_WEIGHT * (1 - min(1.0, max(0.0, lateness)))), 3)
    best: dict[tuple[str, str], Candidate] = {}
    for candidate in sorted(candidates, key=lambda c: -c.score):  # the strongest of each (kind, value)
        best.setdefault((candidate.kind, candidate.value), candidate)
    ranked = sorted(best.values(), key=lambda c: (-c.score, c.onset or incident.end, c.kind, c.value))[:limit]
    if ranked:  # candidates far weaker than the best are noise, not leads
        ranked = [c for c in ranked if c.score >= MIN_SHARE_OF_BEST * ranked[0].score]
    for candidate in ranked:
        candidate.doc_ids = _doc_ids(candidate, evidence, namespace, source_field)
    return ranked


def _template_candidates(incident: Incident, counts: Counts) -> list[Candidate]:
    by_template: dict[str, Candidate] = {}
    for member in incident.members:
        template_id = member.finding.template_id if member.finding else member.template_id
        if template_id is None:
            continue
        if member.finding is not None:
            strength, reason = math.log1p(member.finding.score), describe(member.finding)
        else:
            strength, reason = math.log1p(member.anomalies) / 2, f"{member.anomalies:.0f} anomalies in one bucket"
        if template_id in counts.novel and counts.novel[template_id] <= incident.end:
            strength += NOVEL_BONUS
        current = by_template.setdefault(template_id, Candidate(
            kind="template", value=template_id, label=counts.texts.get(template_id, template_id), score=0.0,
            onset=member.onset))
        current.score = max(current.score, strength)
        current.onset = min(current.onset or member.onset, member.onset)
        current.reasons.append(reason)
    return list(by_template.values())


def _source_candidates(incident: Incident, counts: Counts, evidence: Evidence, source_field: str | None) -> list[Candidate]:
    if source_field is None:
        return []
    found: list[Candidate] = []
    baseline_total = sum(counts.baseline_sum(series) for series in counts.sources.values())
    n = max(evidence.total, 1)

    def usual_share(value: str) -> float:
        series = counts.sources.get(value)
        return (counts.baseline_sum(series) / baseline_total) if series is not None and baseline_total else 0.0

    for finding in incident.findings:
        if finding.source and finding.template_id is None:
            value = finding.source.split("=", 1)[1]
            # A change every host shares (the incident's documents spread as usual) is not this host's doing;
            # a host that went quiet has no documents to concentrate, so its silence or drop counts in full.
            weight = 1.0
            if finding.type not in (SILENCE, DROP):
                lift = evidence.sources.get(value, 0) / n / max(usual_share(value), 1e-9)
                weight = min(1.0, max(0.0, lift - 1.0))
            if weight > 0:
                found.append(Candidate(kind="source", value=value, label=f"{source_field}={value}",
                                       score=math.log1p(finding.score) * weight, onset=finding.onset,
                                       reasons=[describe(finding)]))
    for value, k in evidence.sources.items():
        share = usual_share(value)
        z = (k - n * share) / math.sqrt(n * share * (1 - share) + 1)
        if z >= MIN_CONCENTRATION_Z and k / n >= MIN_CONCENTRATION_SHARE:
            found.append(Candidate(
                kind="source", value=value, label=f"{source_field}={value}", score=math.log1p(z) * k / n,
                onset=None, reasons=[f"{k} of {n} incident documents ({k / n:.0%}) where {share:.0%} is usual"]))
    return found


def _session_candidates(evidence: Evidence, namespace: str) -> list[Candidate]:
    """Sessions that hold a large share of the incident's documents, anomalous ones among them."""
    anomalous = {_nested(doc["source"], namespace, "session") for doc in evidence.docs
                 if _nested(doc["source"], namespace, "anomaly", "is_anomaly")}
    n = max(evidence.total, 1)
    return [Candidate(kind="session", value=value, label=f"session {value}", score=math.log1p(k) * k / n / 2,
                      onset=None, reasons=[f"{k} of {n} incident documents in this session"])
            for value, k in evidence.sessions.items()
            if k >= 3 and k / n >= MIN_CONCENTRATION_SHARE and value in anomalous]


def describe(finding: Finding) -> str:
    what = {"template": "documents", "source": "documents", "errors": "errors"}[finding.subject]
    if finding.type == NEW_TEMPLATE_BURST:
        return f"new template: {finding.observed:.0f} documents from {finding.onset:%H:%M}, none in the baseline"
    return (f"{finding.type}: {finding.observed:.0f} {what} where {finding.expected:.0f} were expected "
            f"({finding.onset:%H:%M}-{finding.end:%H:%M}, z {finding.score:.1f})")


def _doc_ids(candidate: Candidate, evidence: Evidence, namespace: str, source_field: str | None) -> list[str]:
    def matches(source: dict) -> bool:
        if candidate.kind == "template":
            return _nested(source, namespace, "template", "id") == candidate.value
        if candidate.kind == "session":
            return _nested(source, namespace, "session") == candidate.value
        field_name = (source_field or "").removesuffix(".keyword")
        return str(_nested(source, *field_name.split("."))) == candidate.value

    return [doc["id"] for doc in evidence.docs if matches(doc["source"])][:20]


def _nested(source: dict, *path: str) -> object:
    value: object = source
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def kql(candidate_kind: str, value: str, *, namespace: str, source_field: str | None) -> str:
    """A Dashboards (KQL) query for a candidate's documents."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    if candidate_kind == "template":
        return f'{namespace}.template.id:"{escaped}"'
    if candidate_kind == "session":
        return f'{namespace}.session:"{escaped}"'
    return f'{source_field}:"{escaped}"'


def discover_url(base: str, query: str, start: datetime, end: datetime) -> str:
    """An OpenSearch Dashboards Discover link (rison-encoded state) opening the query over the time range."""
    rison = query.replace("!", "!!").replace("'", "!'")
    state = (f"_g=(time:(from:'{start.isoformat()}',to:'{end.isoformat()}'))"
             f"&_q=(query:(language:kuery,query:'{rison}'))")
    return f"{base.rstrip('/')}/app/data-explorer/discover#?{quote(state, safe='=&():,!')}"


def stable_id(*parts: str) -> str:
    """A deterministic document id: re-running over the same window overwrites instead of duplicating."""
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:20]
