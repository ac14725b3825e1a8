"""Template ids through the service: how many ids one event type ends up with in the index.

Each Loghub 2k dataset (``Content`` column, in order, one document per line, one index per dataset) is
enriched by the service in passes of ``--batch-size`` documents, as a live deployment would see the lines
arrive. Then, from the documents as they are in OpenSearch:

* GA: grouping accuracy of the ids written (a line is correct when the documents sharing its id are exactly
  the lines of its true ``EventId``), i.e. the miner's accuracy as the users' charts see it;
* ids/event: the mean number of distinct ids the documents of one true event type carry;
* split: the share of event types whose documents carry more than one id.

Needs the local OpenSearch (``scripts/opensearch.sh start``). Run:
``python bench/ids.py [--data ../shared/data/loghub] [--datasets A B] [--arrivals 4]``
"""

from __future__ import annotations

import argparse
import csv
import logging
import statistics
import sys
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from opensearchpy import OpenSearch, helpers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from parsing import grouping_accuracy  # noqa: E402

from enricher.config import Settings  # noqa: E402
from enricher.orchestration.service import EnrichmentService  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "loghub"


def load_events(folder: Path) -> tuple[list[str], list[str]]:
    with (folder / f"{folder.name}_2k.log_structured.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["Content"] for r in rows], [r["EventId"] for r in rows]


def enrich_in_arrivals(client: OpenSearch, url: str, index: str, lines: list[str], arrivals: int) -> dict[str, str]:
    """Index the lines in ``arrivals`` chunks, a service pass after each; return doc id -> template id."""
    suffix = index.rsplit("-", 1)[-1]
    settings = Settings(opensearch={"hosts": [url]}, state_index=f"bench-ids-state-{suffix}",
                        templates_index=f"bench-ids-templates-{suffix}", log_format="text",
                        source={"index_patterns": [index], "lookback": None}, sink={"refresh": False},
                        models={"classifier": False, "sequence_kinds": [], "autoencoder_kinds": []})
    service = EnrichmentService(settings, client)
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    chunk = -(-len(lines) // arrivals)
    for first in range(0, len(lines), chunk):
        actions = ({"_index": index, "_id": f"{i:06d}",
                    "_source": {"@timestamp": (start + timedelta(milliseconds=i)).isoformat(), "message": line}}
                   for i, line in enumerate(lines[first:first + chunk], start=first))
        helpers.bulk(client, actions, refresh="wait_for")
        if first == 0:
            service.prepare()
        service.run_pass()
    client.indices.refresh(index=index)
    hits = helpers.scan(client, index=index, query={"query": {"match_all": {}}}, _source=["enrichment.template.id"])
    return {hit["_id"]: hit["_source"]["enrichment"]["template"]["id"] for hit in hits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", nargs="*")
    parser.add_argument("--arrivals", type=int, default=4, help="chunks the lines arrive in (a pass after each)")
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    client = OpenSearch(args.url)
    folders = sorted(p for p in args.data.iterdir() if (p / f"{p.name}_2k.log_structured.csv").exists())
    folders = [f for f in folders if not args.datasets or f.name in args.datasets]
    print(f"{'dataset':<12} {'GA':>6} {'ids/event':>10} {'split':>7}")
    scores = []
    for folder in folders:
        lines, truth = load_events(folder)
        suffix = uuid.uuid4().hex[:8]
        index = f"bench-ids-{folder.name.lower()}-{suffix}"
        try:
            ids = enrich_in_arrivals(client, args.url, index, lines, args.arrivals)
        finally:
            client.indices.delete(index=f"bench-ids*{suffix}", params={"expand_wildcards": "all"})
        predicted = [ids[f"{i:06d}"] for i in range(len(lines))]
        per_event: dict[str, set[str]] = defaultdict(set)
        for event, template_id in zip(truth, predicted):
            per_event[event].add(template_id)
        row = (grouping_accuracy(truth, predicted), statistics.mean(len(s) for s in per_event.values()),
               sum(len(s) > 1 for s in per_event.values()) / len(per_event))
        scores.append(row)
        print(f"{folder.name:<12} {row[0]:>6.3f} {row[1]:>10.2f} {row[2]:>7.1%}")
    if scores:
        means = [statistics.mean(col) for col in zip(*scores)]
        print(f"{'mean':<12} {means[0]:>6.3f} {means[1]:>10.2f} {means[2]:>7.1%}")


if __name__ == "__main__":
    main()
