"""Soak test: `enricher run` for N minutes under steady ingest, watching memory, state growth and lag.

A thread indexes K documents a second (generated web-shop logs, or high-cardinality messages that keep
making new templates) into a fresh test index on the local OpenSearch, while `enricher run` (a real
subprocess, from this checkout) enriches it on its schedule. Every --every seconds a row is printed:

  RSS of the enricher process, state index size, state document size, templates index doc count,
  lag (newest ingested @timestamp minus newest enriched @timestamp), documents pending.

Growth that does not level off (RSS, state document, templates) is what this is for. Everything it made
(indices, the index template) is deleted at the end, unless --keep.

    scripts/opensearch.sh start
    .venv/bin/python bench/soak.py --minutes 5 --rate 200
    .venv/bin/python bench/soak.py --minutes 10 --rate 500 --cardinality high
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from opensearchpy import OpenSearch, helpers  # noqa: E402

NAMESPACE = "enrichment"
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
         "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor")


@dataclass
class Names:
    index: str
    pattern: str
    state: str
    templates: str


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process: psutil when installed, else /proc/PID/status."""
    try:
        import psutil

        return int(psutil.Process(pid).memory_info().rss)
    except ImportError:
        pass
    except Exception:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class Ingest(threading.Thread):
    """Indexes ``rate`` documents a second, timestamped now, until ``deadline`` (monotonic) or stopped."""

    def __init__(self, client: OpenSearch, index: str, rate: int, cardinality: str, deadline: float) -> None:
        super().__init__(daemon=True, name="soak-ingest")
        self.client, self.index, self.rate, self.cardinality, self.deadline = client, index, rate, cardinality, deadline
        self.rng = random.Random(1)
        self.stop = threading.Event()
        self.indexed = 0
        self.newest: datetime | None = None
        self.error: str | None = None
        self._sequence = 0
        self._samples: Iterator[dict[str, Any]] | None = None

    def message(self) -> dict[str, Any]:
        self._sequence += 1
        if self.cardinality == "high":  # word choices in fixed positions: the miner keeps finding new templates
            words = " ".join(self.rng.choice(WORDS) for _ in range(4))
            node, word = self.rng.randint(1, 50), self.rng.choice(WORDS)
            text = f"{words} event {self.rng.randint(1, 10 ** 6)} on node-{node} {word}"
            return {"message": text, "trace_id": f"t-{self._sequence // 5}"}
        if self._samples is None:
            from enricher.samples import generate

            self._samples = generate(10 ** 12, start=datetime.now(timezone.utc), seed=1, anomaly_rate=0.02)
        doc = next(self._samples)  # whole request and job flows, so sessions look real
        return {"message": doc["message"], "trace_id": doc.get("trace_id"), "host": doc["host"], "level": doc["level"]}

    def run(self) -> None:
        tick = 0.25
        per_tick = max(1, round(self.rate * tick))
        next_at = time.monotonic()
        try:
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                now = datetime.now(timezone.utc)
                stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                actions = [{"_index": self.index, "_source": {"@timestamp": stamp, **self.message()}}
                           for _ in range(per_tick)]
                helpers.bulk(self.client, actions)
                self.indexed += len(actions)
                self.newest = now
                next_at += tick
                time.sleep(max(0.0, next_at - time.monotonic()))
        except Exception as exc:  # reported in the table's footer
            self.error = f"{type(exc).__name__}: {exc}"


def setup(client: OpenSearch, names: Names) -> None:
    client.indices.create(index=names.index, body={
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {"properties": {"@timestamp": {"type": "date"}, "message": {"type": "text"},
                                    "trace_id": {"type": "keyword"}, "host": {"type": "keyword"},
                                    "level": {"type": "keyword"}}},
    })


def write_config(folder: Path, names: Names, url: str, interval: float, registry: str | None) -> Path:
    config = {
        "opensearch": {"hosts": [url]},
        "state_index": names.state, "templates_index": names.templates,
        "source": {"index_patterns": [names.pattern], "lookback": None},
        "models": {"registry": registry or str(folder / "emptyregistry")},
        "schedule": {"interval_seconds": interval},
        "log_format": "json",
    }
    (folder / "emptyregistry").mkdir(exist_ok=True)
    path = folder / "soak.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def sample(client: OpenSearch, names: Names, pid: int, ingest: Ingest) -> dict[str, Any]:
    from enricher.cluster.state import source_state_id

    row: dict[str, Any] = {"rss_mb": None, "state_kb": None, "state_doc_kb": None, "templates": None,
                           "lag_s": None, "pending": None, "ingested": ingest.indexed}
    rss = rss_bytes(pid)
    row["rss_mb"] = None if rss is None else rss / 2 ** 20
    try:
        stats = client.indices.stats(index=names.state, metric="store")
        row["state_kb"] = stats["_all"]["primaries"]["store"]["size_in_bytes"] / 1024
        state = client.get(index=names.state, id=source_state_id([names.pattern], "1"))
        row["state_doc_kb"] = len(json.dumps(state["_source"])) / 1024
    except Exception:
        pass
    try:
        row["templates"] = client.count(index=names.templates)["count"]
    except Exception:
        pass
    client.indices.refresh(index=names.index)
    pending = client.count(index=names.index, body={"query": {"bool": {"must_not": {
        "exists": {"field": f"{NAMESPACE}.pipeline_version"}}}}})
    row["pending"] = pending["count"]
    newest = client.search(index=names.index, body={
        "size": 0, "query": {"exists": {"field": f"{NAMESPACE}.status"}},
        "aggs": {"newest": {"max": {"field": "@timestamp"}}}})
    newest_enriched = newest["aggregations"]["newest"]["value"]
    if ingest.newest is not None and newest_enriched is not None:
        row["lag_s"] = ingest.newest.timestamp() - newest_enriched / 1000
    return row


def fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_row(elapsed: float, row: dict[str, Any]) -> None:
    print(f"{elapsed:7.0f}  {fmt(row['rss_mb'], '8.1f')}  {fmt(row['state_kb'], '9.1f')}  "
          f"{fmt(row['state_doc_kb'], '10.1f')}  {fmt(row['templates'], '9d')}  {fmt(row['lag_s'], '7.1f')}  "
          f"{fmt(row['pending'], '8d')}  {row['ingested']:9d}", flush=True)


def cleanup(client: OpenSearch, names: Names) -> None:
    from enricher.cluster.mappings import index_template_name

    for index in (names.index, names.state, names.templates):
        client.indices.delete(index=index, params={"ignore_unavailable": "true"})
    client.indices.delete_index_template(name=index_template_name(NAMESPACE, [names.pattern]), params={"ignore": 404})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to run (default 5)")
    parser.add_argument("--rate", type=int, default=200, help="documents indexed per second (default 200)")
    parser.add_argument("--cardinality", choices=("low", "high"), default="low",
                        help="low: sample web-shop logs; high: messages that keep making new templates")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between table rows (default 30)")
    parser.add_argument("--interval", type=float, default=5.0, help="the enricher's schedule.interval_seconds")
    parser.add_argument("--registry", default=None, help="model registry (default: none, templates only)")
    parser.add_argument("--url", default=os.environ.get("ENRICHER_TEST_OPENSEARCH", "http://127.0.0.1:9200"))
    parser.add_argument("--keep", action="store_true", help="keep the indices afterwards")
    args = parser.parse_args()

    suffix = uuid.uuid4().hex[:8]
    names = Names(index=f"soak-{suffix}-logs", pattern=f"soak-{suffix}-logs*",
                  state=f"enricher-state-soak-{suffix}", templates=f"enricher-templates-soak-{suffix}")
    client = OpenSearch(hosts=[args.url], timeout=60)
    client.cluster.health(params={"wait_for_status": "yellow"})
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    setup(client, names)
    config = write_config(folder, names, args.url, args.interval, args.registry)
    log_path = folder / "enricher.log"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    deadline = time.monotonic() + args.minutes * 60
    ingest = Ingest(client, names.index, args.rate, args.cardinality, deadline)
    print(f"soak: {args.minutes} min, {args.rate} docs/s ({args.cardinality} cardinality), index {names.index}, "
          f"enricher log {log_path}")
    print(f"{'seconds':>7}  {'rss_MB':>8}  {'state_KB':>9}  {'statedoc_KB':>10}  {'templates':>9}  "
          f"{'lag_s':>7}  {'pending':>8}  {'ingested':>9}")
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "enricher.cli.main", "run", "--config", str(config)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    started = time.monotonic()
    peak_rss = 0.0
    try:
        ingest.start()
        next_row = started + args.every
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(max(0.0, min(next_row, deadline) - time.monotonic()))
            if time.monotonic() >= next_row:
                row = sample(client, names, process.pid, ingest)
                peak_rss = max(peak_rss, row["rss_mb"] or 0.0)
                print_row(time.monotonic() - started, row)
                next_row += args.every
        ingest.stop.set()
        ingest.join(timeout=30)
        if process.poll() is None:
            time.sleep(args.interval * 2)  # one more pass over the last documents ingested
            row = sample(client, names, process.pid, ingest)
            peak_rss = max(peak_rss, row["rss_mb"] or 0.0)
            print_row(time.monotonic() - started, row)
        else:
            print(f"the enricher exited early with code {process.returncode}; see {log_path}")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
        if ingest.error:
            print(f"ingest stopped: {ingest.error}")
        errors = sum(1 for line in log_path.read_text(errors="replace").splitlines() if '"level": "ERROR"' in line)
        print(f"peak RSS {peak_rss:.1f} MB; ingested {ingest.indexed} documents; enricher exit code "
              f"{process.returncode}; {errors} ERROR log lines")
        if not args.keep:
            cleanup(client, names)
    return 0 if process.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
