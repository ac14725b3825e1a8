"""Benchmark: findings speed on 1,000,000 enriched documents, and detection of injected incidents.

Speed (``--docs``): loads N small enriched documents (Loghub lines of all 12 samples, i.e. ~700 templates,
from 4 hosts, replayed evenly over the baseline plus the window) into a fresh index on the local OpenSearch
with raw ``_bulk`` requests, then times a findings run (aggregations only) for each layout given with
``--layouts`` (baseline:window, e.g. ``7d:1h`` = the service's defaults), and deletes the index.

Detection (``--detect``): for each Loghub source, 6 h of replayed history plus 4 h analysed, once with the
four injected incidents (spike, error burst on one host, new failing code path, silence) and once without;
prints the rank of each injected cause among its incident's candidates and the false findings per 10,000
documents. Thresholds were tuned on HDFS, OpenSSH and Zookeeper only; the other nine are held out.

    scripts/opensearch.sh start
    .venv/bin/python bench/findings.py --docs 1000000 --layouts 7d:1h,1d:1h --detect
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # simulate.py: the enriched test traffic the integration tests use

LOGHUB = REPO.parent / "shared" / "data" / "loghub"
TUNED = ("HDFS", "OpenSSH", "Zookeeper")
SOURCES = ("HDFS", "OpenSSH", "Zookeeper", "Android", "Apache", "BGL", "HPC", "HealthApp", "Linux", "Proxifier",
           "Spark", "Windows")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    return timedelta(**{UNITS[text[-1]]: int(text[:-1])})


def bulk_bodies(lines: list, count: int, start: datetime, span: timedelta, chunk: int, seed: int = 0):
    """NDJSON bulk bodies of ``count`` enriched documents spread evenly (random order) over ``span``."""
    import simulate

    rng = np.random.default_rng(seed)
    static = []
    for line in lines:
        enrichment = {"status": "ok", "pipeline_version": "1", "model_versions": simulate.MODEL_VERSIONS,
                      "template": {"id": line.template_id, "text": line.template, "novel": False},
                      "classification": {"label": line.label}}
        static.append((json.dumps(line.message), json.dumps(enrichment)[:-1]))
    offsets = np.sort(rng.random(count)) * span.total_seconds()
    base = np.datetime64(start.replace(tzinfo=None), "ms")
    stamps = np.datetime_as_string(base + (offsets * 1000).astype("timedelta64[ms]"), unit="ms")
    which = rng.integers(0, len(lines), count)
    hosts = rng.integers(0, len(simulate.HOSTS), count)
    anomalous = rng.random(count) < 0.0005
    for first in range(0, count, chunk):
        out = []
        for i in range(first, min(count, first + chunk)):
            message, enrichment = static[which[i]]
            out.append('{"index":{}}')
            out.append(f'{{"@timestamp":"{stamps[i]}Z","message":{message},"host":"{simulate.HOSTS[hosts[i]]}",'
                       f'"enrichment":{enrichment},"anomaly":{{"is_anomaly":{"true" if anomalous[i] else "false"}}}}}}}')
        yield "\n".join(out) + "\n"


def load_fast(client, index: str, bodies, threads: int = 2) -> None:
    from simulate import index_mapping

    client.indices.create(index=index, body={"settings": {"number_of_shards": 2, "number_of_replicas": 0,
                                                          "refresh_interval": "-1"}, "mappings": index_mapping()})
    lock = threading.Lock()
    source = iter(bodies)

    def worker() -> None:
        while True:
            with lock:
                body = next(source, None)
            if body is None:
                return
            result = client.bulk(index=index, body=body, request_timeout=300)
            if result.get("errors"):
                raise RuntimeError(json.dumps(result)[:500])

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    client.indices.refresh(index=index, request_timeout=300)
    client.indices.forcemerge(index=index, params={"max_num_segments": 4}, request_timeout=600)


def speed(client, docs: int, layouts: list[str], rounds: int) -> None:
    from enricher.config import Settings
    import simulate
    from enricher.findings.engine import analyse
    from enricher.findings.keyterms import KeyTerms

    lines = [line for name in SOURCES for line in simulate.load_lines(LOGHUB / name / f"{name}_2k.log_structured.csv")]
    keyterms = KeyTerms()
    keyterms.stopwords  # import nltk once, outside the timings
    print(f"{'layout (baseline:window)':<26}{'docs':>10}{'load s':>8}{'templates':>10}{'buckets':>9}"
          f"{'requests':>9}{'findings':>9}{'run s (median)':>16}{'runs':>22}")
    for layout in layouts:
        baseline, window = (duration(part) for part in layout.split(":"))
        end = datetime(2026, 3, 9, tzinfo=timezone.utc)
        start = end - window - baseline
        index = f"bench-findings-{uuid.uuid4().hex[:8]}"
        began = time.monotonic()
        try:
            load_fast(client, index, bulk_bodies(lines, docs, start, baseline + window, 5000))
            loaded = time.monotonic() - began
            settings = Settings(source={"index_patterns": [index]},
                                findings={"window": window, "baseline": baseline, "settle": timedelta(0)})
            times, report = [], None
            for _ in range(rounds):
                began = time.monotonic()
                report = analyse(client, settings, end - window, end, keyterms=keyterms)
                times.append(time.monotonic() - began)
            assert report is not None and report.counts is not None
            counts = report.counts
            print(f"{layout:<26}{docs:>10,}{loaded:>8.0f}{len(counts.templates):>10}{counts.grid.size:>9}"
                  f"{report.requests:>9}{len(report.findings):>9}{statistics.median(times):>16.2f}"
                  f"{' '.join(f'{t:.2f}' for t in times):>22}")
        finally:
            client.indices.delete(index=index, params={"ignore_unavailable": "true"})


def _sliding(client, settings, start: datetime, end: datetime, keyterms):
    """As the service runs it: a 1 h window every 5 minutes across [start, end); findings merged by their id."""
    from enricher.findings.engine import FindingsRunReport, analyse

    step, span = timedelta(minutes=5), timedelta(hours=1)
    config = settings.findings.model_copy(update={"window": span})
    settings = settings.model_copy(update={"findings": config})
    merged = FindingsRunReport(start=start, end=end, baseline_start=start)
    findings: dict[str, dict] = {}
    incidents: dict[str, dict] = {}
    run_end = start + span
    while run_end <= end:
        report = analyse(client, settings, run_end - span, run_end, keyterms=keyterms)
        findings.update({doc["_id"]: doc for doc in report.findings})
        incidents.update({doc["_id"]: doc for doc in report.incidents})
        # every document once: the first run's whole window, then the one bucket each later run adds
        merged.documents += report.documents if run_end == start + span else int(
            report.counts.total(report.counts.templates)[-1])
        run_end += step
    merged.findings, merged.incidents = list(findings.values()), list(incidents.values())
    return merged


def detect(client, sources: list[str], history: timedelta, window: timedelta, rate: float,
           sliding: bool = False) -> None:
    from enricher.config import Settings
    import simulate
    from enricher.findings.engine import analyse
    from enricher.findings.keyterms import KeyTerms

    keyterms = KeyTerms()
    start = datetime(2026, 3, 2, tzinfo=timezone.utc)
    print(f"{'source':<11}{'tuned':<7}{'docs':>7}{'spike':>7}{'burst':>7}{'new':>5}{'silence':>9}"
          f"{'false (inj.)':>13}{'docs normal':>12}{'findings normal':>16}{'per 10k':>8}")
    totals = {"found": 0, "injected": 0, "false": 0, "docs": 0, "top3": 0}
    for name in sources:
        path = LOGHUB / name / f"{name}_2k.log_structured.csv"
        row = {}
        for inject in (True, False):
            docs, injections = simulate.scenario(path, start, history, window, rate=rate, inject=inject)
            index = f"bench-findings-{uuid.uuid4().hex[:8]}"
            try:
                simulate.load(client, index, docs)
                settings = Settings(source={"index_patterns": [index]},
                                    findings={"window": window, "baseline": history, "settle": timedelta(0)})
                if sliding:
                    report = _sliding(client, settings, start + history, start + history + window, keyterms)
                else:
                    report = analyse(client, settings, start + history, start + history + window, keyterms=keyterms)
            finally:
                client.indices.delete(index=index, params={"ignore_unavailable": "true"})
            row[inject] = (simulate.evaluate(report.findings, report.incidents, injections, report.documents,
                                             slack=settings.findings.incident_gap), report)
        injected, normal = row[True][0], row[False][0]
        ranks = [injected.found.get(kind) for kind in ("spike", "error_burst", "new_path", "silence")]
        per_10k = normal.findings / max(normal.documents, 1) * 10_000
        print(f"{name:<11}{'yes' if name in TUNED else 'no':<7}{injected.documents:>7}"
              + "".join(f"{('-' if r is None else r):>{w}}" for r, w in zip(ranks, (7, 7, 5, 9)))
              + f"{injected.false_findings:>13}{normal.documents:>12}{normal.findings:>16}{per_10k:>8.2f}")
        for finding in row[False][1].findings:
            print(f"    normal-run finding: {finding['type']} {finding['summary'][:90]}")
        totals["injected"] += len(ranks)
        totals["found"] += sum(r is not None for r in ranks)
        totals["top3"] += sum(r is not None and r <= 3 for r in ranks)
        totals["false"] += normal.findings
        totals["docs"] += normal.documents
    print(f"injected incidents found: {totals['found']}/{totals['injected']}, cause in top 3: "
          f"{totals['top3']}/{totals['injected']}; normal traffic: {totals['false']} findings in "
          f"{totals['docs']:,} documents = {totals['false'] / max(totals['docs'], 1) * 10_000:.2f} per 10,000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    parser.add_argument("--docs", type=int, default=0, help="documents for the speed benchmark (0: skip it)")
    parser.add_argument("--layouts", default="7d:1h", help="baseline:window pairs, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--detect", action="store_true", help="run the detection benchmark")
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--rate", type=float, default=2.0, help="replayed documents per second (detection)")
    parser.add_argument("--sliding", action="store_true",
                        help="detection as the service runs it: a 1 h window every 5 minutes, findings merged by id")
    args = parser.parse_args()
    from opensearchpy import OpenSearch

    client = OpenSearch(hosts=[args.url], timeout=300)
    if args.docs:
        speed(client, args.docs, args.layouts.split(","), args.rounds)
    if args.detect:
        detect(client, args.sources.split(","), timedelta(hours=6), timedelta(hours=4), args.rate, args.sliding)


if __name__ == "__main__":
    main()
