"""A findings run: counts from aggregations -> trend findings -> incidents with causes -> findings index.

One document per finding and per incident, under deterministic ids: a re-run over the same window overwrites them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
from opensearchpy import OpenSearch

from enricher.findings import incidents as inc
from enricher.findings.aggregate import Counts, Fields, collect, evidence, resolve_fields
from enricher.findings.index import write_findings
from enricher.findings.keyterms import KeyTerms
from enricher.findings.series import Finding, Grid, detect, floor_time

if TYPE_CHECKING:
    from enricher.config import Settings

log = logging.getLogger(__name__)

FINDINGS_VERSION = "findings:v1"
KEY_TERMS = 10
EVIDENCE_LEAD = 2  # buckets
QUERY_SHARE_OF_BEST = 0.25  # the incident's Dashboards query opens the evidence of its strong leads


@dataclass
class FindingsRunReport:
    """What one run found (documents as written to the findings index) and what it cost."""

    start: datetime
    end: datetime
    baseline_start: datetime
    documents: int = 0
    anomalies: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    written: int = 0
    requests: int = 0
    seconds: float = 0.0
    counts: Counts | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        by_type = dict(Counter(finding["type"] for finding in self.findings))
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "documents": self.documents,
                "anomalies": self.anomalies, "findings": len(self.findings), "by_type": by_type,
                "incidents": len(self.incidents), "written": self.written, "requests": self.requests,
                "seconds": round(self.seconds, 3)}


def run_findings(client: OpenSearch, settings: Settings, now: datetime | None = None) -> FindingsRunReport:
    """Analyse the latest complete window (``findings.window`` up to now less ``findings.settle``) and write it."""
    config = settings.findings
    now = now or datetime.now(timezone.utc)
    end = floor_time(now - config.settle, config.bucket)
    report = analyse(client, settings, end - config.window, end)
    report.written = write_findings(client, settings, report.findings + report.incidents)
    return report


def analyse(client: OpenSearch, settings: Settings, start: datetime, end: datetime,
            keyterms: KeyTerms | None = None) -> FindingsRunReport:
    """Findings and incidents of [start, end), each series judged against the baseline before ``start``."""
    began = time.monotonic()
    config = settings.findings
    index = ",".join(settings.source.index_patterns)
    fields = resolve_fields(client, index, settings.sink.namespace, settings.source.timestamp_field,
                            settings.source.message_field, config)
    grid = Grid.covering(start, end, config.baseline, config.bucket)
    counts = collect(client, index, fields, grid, config)
    findings = detect_all(counts, fields, settings)
    members = [inc.Member(onset=f.onset, end=f.end, finding=f) for f in findings]
    members += inc.anomaly_members(counts, config.incident_min_anomalies)
    incidents = inc.group(members, config.incident_gap)
    keyterms = keyterms or KeyTerms()
    background = keyterms.term_weights(_baseline_texts(counts))
    for incident in incidents:
        _explain(client, index, fields, settings, counts, incident, keyterms, background)
    report = FindingsRunReport(start=grid.window_start, end=grid.end, baseline_start=grid.start, counts=counts,
                               documents=int(counts.window_sum(counts.total(counts.templates))),
                               anomalies=int(counts.window_sum(counts.total(counts.template_anomalies))),
                               requests=counts.requests)
    _documents(report, incidents, findings, counts, fields, settings)
    report.seconds = time.monotonic() - began
    return report


def detect_all(counts: Counts, fields: Fields, settings: Settings) -> list[Finding]:
    config = settings.findings
    history = np.flatnonzero(counts.total(counts.templates)[: counts.grid.baseline])
    if len(history) < config.min_baseline_buckets:
        return []  # no history yet (a new deployment): every template would look new
    # The baseline starts where the history does: the empty days before a deployment are no baseline.
    first = int(history[0])
    grid = Grid(start=counts.grid.time(first), bucket=counts.grid.bucket, baseline=counts.grid.baseline - first,
                window=counts.grid.window)
    keys = grid.comparable_keys()

    def judge(series: np.ndarray, **what: str | None) -> list[Finding]:
        return detect(series[first:], grid, config, keys=keys, **what)  # type: ignore[arg-type]

    found: list[Finding] = []
    for template_id, series in counts.templates.items():
        found += judge(series, subject="template", template_id=template_id)
    for value, series in counts.sources.items():
        source = f"{fields.source}={value}"
        found += judge(series, subject="source", source=source)
        if value in counts.source_errors:
            found += judge(counts.source_errors[value], subject="errors", source=source)
    if not counts.sources:  # no host/service field: the error rate of everything
        found += judge(counts.total(counts.template_errors), subject="errors")
    return sorted(found, key=lambda f: (f.onset, f.type, f.key))


def _baseline_texts(counts: Counts) -> dict[str, float]:
    texts: defaultdict[str, float] = defaultdict(float)
    for template_id, series in counts.templates.items():
        if text := counts.texts.get(template_id):
            texts[text] += counts.baseline_sum(series)
    return texts


def _explain(client: OpenSearch, index: str, fields: Fields, settings: Settings, counts: Counts,
             incident: inc.Incident, keyterms: KeyTerms, background: dict[str, float]) -> None:
    config = settings.findings
    # From a little before the onset: a silence's evidence is the last documents before it.
    found = evidence(client, index, fields, config, start=incident.start - EVIDENCE_LEAD * config.bucket, end=incident.end,
                     templates=incident.templates(), sources=incident.sources(), counts=counts)
    ranked = inc.rank(incident, counts, found, source_field=fields.source, namespace=fields.namespace,
                      limit=config.max_candidates)
    for candidate in ranked:
        candidate.query = inc.kql(candidate.kind, candidate.value, namespace=fields.namespace,
                                  source_field=fields.source)
        candidate.url = inc.discover_url(config.dashboards_url, candidate.query, incident.start, incident.end)
    incident.candidates = ranked
    incident.key_terms = keyterms.rank(found.messages, background, top=KEY_TERMS)
    incident.evidence_docs = found.docs[: config.max_evidence_docs]
    incident.evidence_total = found.total


def _documents(report: FindingsRunReport, incidents: list[inc.Incident], findings: list[Finding], counts: Counts,
               fields: Fields, settings: Settings) -> None:
    partition = ",".join(settings.source.index_patterns)
    common = {"partition": partition, "model_versions": counts.model_versions + [FINDINGS_VERSION],
              "findings_version": FINDINGS_VERSION, "detected_at": datetime.now(timezone.utc).isoformat(),
              "run": {"start": report.start.isoformat(), "end": report.end.isoformat(),
                      "baseline_start": report.baseline_start.isoformat()}}
    ids = {id(f): inc.stable_id(partition, f.type, f.key, f.onset.isoformat()) for f in findings}
    incident_of: dict[int, str] = {}
    for incident in incidents:
        first = min(incident.members, key=lambda m: (m.onset, ids.get(id(m.finding), m.template_id or "")))
        incident_id = inc.stable_id(partition, "incident", ids.get(id(first.finding), first.template_id or ""),
                                    first.onset.isoformat())
        incident_of.update({id(finding): incident_id for finding in incident.findings})
        report.incidents.append(_incident_doc(incident, incident_id, [ids[id(f)] for f in incident.findings],
                                              fields, settings) | common)
    report.findings = [_finding_doc(f, ids[id(f)], incident_of.get(id(f)), counts, fields, settings) | common
                       for f in findings]


def _finding_doc(finding: Finding, doc_id: str, incident_id: str | None, counts: Counts, fields: Fields,
                 settings: Settings) -> dict[str, Any]:
    namespace = fields.namespace
    source_field, _, source_value = (finding.source or "").partition("=")
    query = ""
    if finding.template_id:
        query = inc.kql("template", finding.template_id, namespace=namespace, source_field=fields.source)
    elif finding.source:
        query = inc.kql("source", source_value, namespace=namespace, source_field=fields.source)
    if finding.subject == "errors":
        errors = f"{namespace}.classification.label:({' or '.join(settings.findings.error_labels)})"
        query = f"{query} and {errors}" if query else errors
    return {
        "_id": doc_id, "kind": "finding", "type": finding.type, "subject": finding.subject,
        "template": {"id": finding.template_id, "text": counts.texts.get(finding.template_id or "")}
        if finding.template_id else None,
        "source": {"field": source_field, "value": source_value} if finding.source else None,
        "window": {"start": finding.onset.isoformat(), "end": finding.end.isoformat()},
        "onset": finding.onset.isoformat(), "observed": finding.observed, "expected": round(finding.expected, 3),
        "ratio": round(finding.observed / finding.expected, 3) if finding.expected else None,
        "score": round(finding.score, 3), "summary": inc.describe(finding), "incident_id": incident_id,
        "buckets": [{"t": t.isoformat(), "observed": o, "expected": round(e, 3)} for t, o, e in finding.buckets],
        "dashboards": {"query": query, "url": inc.discover_url(settings.findings.dashboards_url, query,
                                                               finding.onset, finding.end)},
    }


def _incident_doc(incident: inc.Incident, incident_id: str, members: list[str], fields: Fields,
                  settings: Settings) -> dict[str, Any]:
    causes = [{"rank": rank, "kind": c.kind, "value": c.value, "label": c.label, "score": c.score,
               "onset": c.onset.isoformat() if c.onset else None, "reasons": c.reasons[:5], "doc_ids": c.doc_ids,
               "query": c.query, "url": c.url} for rank, c in enumerate(incident.candidates, 1)]
    leads = [c for c in incident.candidates[:3] if c.score >= QUERY_SHARE_OF_BEST * incident.candidates[0].score]
    query = " or ".join(f"({c.query})" for c in leads)
    top = incident.candidates[0] if incident.candidates else None
    types = sorted({f.type for f in incident.findings}) or ["anomalies"]
    summary = f"{len(incident.members)} signals ({', '.join(types)})"
    if top is not None:
        summary += f"; most likely cause: {top.kind} {top.label}"
    return {
        "_id": incident_id, "kind": "incident", "type": "incident", "subject": "incident",
        "window": {"start": incident.start.isoformat(), "end": incident.end.isoformat()},
        "onset": incident.start.isoformat(), "score": top.score if top else 0.0, "summary": summary,
        "incident_id": incident_id, "members": members, "causes": causes,
        "top_cause": {"kind": top.kind, "value": top.value, "label": top.label} if top else None,
        "key_terms": [term for term, _ in incident.key_terms],
        "doc_ids": [doc["id"] for doc in incident.evidence_docs], "evidence_count": incident.evidence_total,
        "observed": float(incident.evidence_total),
        "dashboards": {"query": query, "url": inc.discover_url(settings.findings.dashboards_url, query,
                                                               incident.start, incident.end)},
    }


class FindingsSchedule:
    """Runs findings from the service every ``findings.interval``; a failure is logged, never raised."""

    def __init__(self, client: OpenSearch, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.last_run: datetime | None = None
        self.last_report: FindingsRunReport | None = None

    def due(self, now: datetime) -> bool:
        config = self.settings.findings
        return config.enabled and (self.last_run is None or now - self.last_run >= config.interval)

    def run(self, now: datetime) -> FindingsRunReport | None:
        self.last_run = now
        try:
            self.last_report = run_findings(self.client, self.settings, now)
        except Exception:  # noqa: BLE001 -- findings are an extra: the enrichment pass must not fail for them
            log.warning("findings run failed; the next one tries again", exc_info=True)
            return None
        log.info("findings run finished", extra=self.last_report.summary())
        return self.last_report
