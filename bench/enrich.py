"""Benchmark: the enricher's end-to-end pass against the write-back limit, on a real local OpenSearch.

Loads N log documents (Loghub lines from ../shared/data/loghub replayed with shifted timestamps, or the
project's generated sample logs when that folder is absent) into two identical indices, then measures in
one run:

  (a) write-back limit: read the documents page by page exactly as the enricher does (PIT, search_after)
      and write the enricher's own enrichment of each document for the same model set, computed before the
      clock starts, with the same `_bulk` partial updates and version checks: the I/O-only ceiling;
  (b) the enricher's pass (template mining on; models as chosen by --models).

Each is measured twice: a cold pass over the loaded documents (every template new to the miner and the
classifier's cache), then a warm pass over a second copy appended to the index (templates known, as for
a service that has been running).

Each phase runs in its own process so its peak RSS is its own. An unmeasured warm-up round runs first
(the JVM compiles its hot paths); each round loads fresh indices and rotates which phase runs first;
medians over rounds are reported, and each enricher/limit ratio is taken pair by pair within a round
(the machine is noisy).

    scripts/opensearch.sh start
    .venv/bin/python bench/enrich.py --docs 200000 --rounds 3 --models none
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import resource
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LOGHUB = REPO.parent / "shared" / "data" / "loghub"
URL = "http://127.0.0.1:9200"


def source_lines(limit: int, data: str) -> tuple[list[tuple[str, str]], str]:
    """(session, message) pairs: Loghub Content columns (session: dataset), cycled; or generated sample
    messages (session: trace id)."""
    pairs: list[tuple[str, str]] = []
    if data == "loghub" and LOGHUB.is_dir():
        for structured in sorted(LOGHUB.glob("*/*_structured.csv")):
            with structured.open(newline="", encoding="utf-8") as handle:
                pairs += [(structured.parent.name, row["Content"]) for row in csv.DictReader(handle)]
        origin = f"Loghub ({len(pairs)} distinct lines from {LOGHUB}), replayed"
    else:
        from enricher.samples import generate

        start = datetime.now(timezone.utc)
        pairs = [(d["trace_id"], d["message"]) for d in generate(limit, start=start, seed=11, anomaly_rate=0.02)]
        origin = "generated sample logs (enricher.samples)"
    return [pairs[i % len(pairs)] for i in range(limit)], origin


def load_index(client, index: str, pairs: list[tuple[str, str]], *, offset: int = 0) -> None:
    """Index the pairs as documents; ``offset`` > 0 appends a later copy (new ids, later timestamps)."""
    from opensearchpy import helpers

    if offset == 0:
        client.indices.delete(index=index, params={"ignore_unavailable": "true"})
        client.indices.create(index=index, body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
            "mappings": {"properties": {"@timestamp": {"type": "date"}, "message": {"type": "text"},
                                        "dataset": {"type": "keyword"}}},
        })
    start = datetime.now(timezone.utc) - timedelta(hours=12)
    actions = (
        {"_index": index, "_id": f"{i:08d}", "_source": {
            "@timestamp": (start + timedelta(milliseconds=10 * i)).isoformat(), "message": message, "dataset": dataset}}
        for i, (dataset, message) in enumerate(pairs, start=offset)
    )
    for _ in helpers.parallel_bulk(client, actions, chunk_size=2000, thread_count=2):
        pass
    client.indices.refresh(index=index)


def parse_model_set(spec: str) -> tuple[str, str, str]:
    """"classifier@float32/2" -> ("classifier", "float32", "2"): model set, precision, torch threads."""
    spec, _, threads = spec.partition("/")
    models, _, precision = spec.partition("@")
    return models, precision, threads


def settings_for(index: str, models: str, registry: str):
    from enricher.config import Settings

    models, precision, threads = parse_model_set(models)
    model_settings: dict[str, Any] = {"registry": registry}
    if threads:
        model_settings["torch_threads"] = int(threads)
    if precision:
        model_settings["classifier_precision"] = precision
    if models == "none":
        model_settings.update(classifier=False, sequence_kinds=[], autoencoder_kinds=[])
    elif models == "classifier":
        model_settings.update(sequence_kinds=[], autoencoder_kinds=[])
    return Settings(
        opensearch={"hosts": [URL]}, state_index=f"{index}-state", templates_index=f"{index}-templates",
        source={"index_patterns": [index], "lookback": None, "batch_size": 1000,
                "session": {"fields": ["dataset"]}},
        models=model_settings, log_format="text", log_level="WARNING",
        findings={"enabled": False},  # the enrichment pass alone: findings have their own bench
    )


def phase_write_back_limit(index: str, model_set: str, registry: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Read like the enricher and write the enricher's own payload for this model set, computed beforehand
    (untimed): the I/O-only ceiling of a pass with that model set."""
    from enricher.cluster.client import make_client, retry_policy
    from enricher.records import LogInput
    from enricher.orchestration.loading import build_pipeline
    from enricher.cluster.sink import BulkSink, DocumentUpdate, Outcome
    from enricher.cluster.source import DocumentSource

    settings = settings_for(index, model_set, registry)
    client = make_client(settings.opensearch, retry_policy(settings))
    pipeline = build_pipeline(settings)
    payloads = []
    for start in range(0, len(pairs), 1000):  # the enricher's work, done before the clock starts
        chunk = pairs[start:start + 1000]
        payloads += [e.to_document() for e in pipeline.enrich([LogInput(message, dataset) for dataset, message in chunk])]
    source = DocumentSource(client, settings.source, namespace="enrichment", pipeline_version="1")
    sink = BulkSink(client, settings.sink)

    def one_pass() -> dict[str, Any]:
        started = time.perf_counter()
        written = 0
        for batch in source.iter_batches(None):
            updates = [DocumentUpdate(d.index, d.doc_id, d.seq_no, d.primary_term, payloads[int(d.doc_id) % len(payloads)])
                       for d in batch]
            written += sum(result.outcome is Outcome.WRITTEN for result in sink.write(updates))
        return {"docs": written, "seconds": time.perf_counter() - started}

    return _cold_and_warm(client, index, pairs, one_pass)


def phase_enricher(index: str, models: str, registry: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    from enricher.cluster.client import make_client, retry_policy
    from enricher.orchestration.service import EnrichmentService

    settings = settings_for(index, models, registry)
    client = make_client(settings.opensearch, retry_policy(settings))
    service = EnrichmentService(settings, client)
    service.prepare()

    def one_pass() -> dict[str, Any]:
        started = time.perf_counter()
        report = service.run_pass()
        return {"docs": report.enriched + report.errors, "seconds": time.perf_counter() - started}

    result = _cold_and_warm(client, index, pairs, one_pass)
    return {**result, "templates": len(service.pipeline.miner), "models": service.pipeline.model_versions}


def _cold_and_warm(client, index: str, pairs: list[tuple[str, str]], one_pass) -> dict[str, Any]:
    """A pass over the loaded documents (cold: every template new), then a pass over a second copy
    appended to the index (warm: templates known, as for a service that has been running)."""
    cold = one_pass()
    load_index(client, index, pairs, offset=len(pairs))
    warm = one_pass()
    return {"cold": cold, "warm": warm, "rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(function, *args) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default="none",
                        help="comma-separated model sets to run the enricher with, each on its own fresh index: "
                             "none (template mining only), classifier, all (every promoted model in --registry); "
                             "suffixes @float32|@bfloat16|@auto set the classifier's precision (default: the "
                             "service's, auto) and /N the torch threads (default: torch's), e.g. classifier@float32/2")
    parser.add_argument("--registry", default=str(REPO / "models"))
    parser.add_argument("--data", choices=["loghub", "samples"], default="loghub",
                        help="replayed Loghub lines (when ../shared/data is present) or generated sample logs")
    args = parser.parse_args()
    model_sets = [m.strip() for m in args.models.split(",")]
    if any(parse_model_set(m)[0] not in ("none", "classifier", "all") for m in model_sets):
        parser.error("--models takes none, classifier, all (each optionally @PRECISION and /THREADS)")

    from opensearchpy import OpenSearch

    client = OpenSearch(hosts=[URL], timeout=120)
    pairs, origin = source_lines(args.docs, args.data)
    print(f"documents: {args.docs} from {origin}; enricher models: {model_sets}; rounds: {args.rounds}", flush=True)
    # Each model set is paired with its own write-back limit (the same payload, precomputed).
    phases = [phase for m in model_sets for phase in (f"limit:{m}", m)]
    runs: dict[str, list[dict[str, Any]]] = {phase: [] for phase in phases}
    warm_up(client, pairs[: min(len(pairs), 20_000)], args.registry)
    for round_number in range(args.rounds):
        # Rotate which phase goes first, so no phase always meets the server in the same state.
        order = phases[round_number % len(phases):] + phases[:round_number % len(phases)]
        for phase in order:
            runs[phase].append(run_phase(client, phase, pairs, args.registry))
        print(f"round {round_number + 1}: " + ", ".join(
            f"{p} {_rate(runs[p][-1]['cold']):,.0f}/{_rate(runs[p][-1]['warm']):,.0f}" for p in phases)
            + " docs/s (cold/warm)", flush=True)
    for stage in ("cold", "warm"):
        rates = {phase: statistics.median(_rate(r[stage]) for r in runs[phase]) for phase in phases}
        ratios = {m: statistics.median(_rate(a[stage]) / _rate(b[stage])
                                       for a, b in zip(runs[m], runs[f"limit:{m}"])) for m in model_sets}
        print()
        print(f"{stage} pass ({'every template new' if stage == 'cold' else 'a second copy: templates known'}); "
              f"medians of {args.rounds} rounds")
        print(f"{'':44}{'docs/s':>10}{'vs its limit':>14}{'vs none':>9}{'peak RSS MB':>13}")
        for m in model_sets:
            print(f"{'(a) write-back limit, payload of ' + m:44}{rates[f'limit:{m}']:>10,.0f}{'1.00':>14}{'-':>9}{'-':>13}")
            vs_none = f"{rates[m] / rates['none']:.2f}" if "none" in rates else "-"
            print(f"{'(b) enricher, models: ' + m:44}{rates[m]:>10,.0f}{ratios[m]:>14.2f}{vs_none:>9}"
                  f"{max(r['rss_mb'] for r in runs[m]):>13,.0f}")
    for phase in model_sets:
        print(f"models ({phase}): {', '.join(runs[phase][-1]['models'])}; templates: {runs[phase][-1]['templates']}")
    print("(vs its limit: the median over rounds of the pair's ratio, each pair measured in the same round)")


def run_phase(client, phase: str, pairs: list[tuple[str, str]], registry: str) -> dict[str, Any]:
    index = f"bench-{phase.replace('/', '-t').replace('@', '-').replace(':', '-')}"
    load_index(client, index, pairs)
    try:
        if phase.startswith("limit:"):
            return in_child(phase_write_back_limit, index, phase.removeprefix("limit:"), registry, pairs)
        return in_child(phase_enricher, index, phase, registry, pairs)
    finally:
        # The enricher's state indices are hidden: expand_wildcards=all, or a later round would resume.
        client.indices.delete(index=f"{index}*", params={"ignore_unavailable": "true", "expand_wildcards": "all"})


def warm_up(client, pairs: list[tuple[str, str]], registry: str) -> None:
    """One unmeasured round on a small copy: the JVM compiles the hot paths before anything is timed."""
    for phase in ("limit:none", "none"):
        run_phase(client, phase, pairs, registry)


def _rate(run: dict[str, Any]) -> float:
    return run["docs"] / run["seconds"] if run["seconds"] else 0.0


if __name__ == "__main__":
    main()
