"""Helpers of the fault suite: unique index names, the enricher CLI run as a real subprocess (so SIGKILL,
restarts and exit codes are the real thing), loading documents and checking outcomes.

The CLI runs from the checkout these tests live in (PYTHONPATH = this repository), with the interpreter
running the tests, so a worktree tests its own code.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from opensearchpy import OpenSearch, helpers

REPO_ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = os.environ.get("ENRICHER_TEST_OPENSEARCH", "http://127.0.0.1:9200")
NAMESPACE = "enrichment"


@dataclass
class Names:
    suffix: str
    prefix: str  # every index of the test starts with it

    def index(self, part: str) -> str:
        return f"{self.prefix}-{part}"

    @property
    def pattern(self) -> str:
        return f"{self.prefix}-logs*"

    @property
    def state(self) -> str:
        return f"enricher-state-flt-{self.suffix}"

    @property
    def templates(self) -> str:
        return f"enricher-templates-flt-{self.suffix}"


@dataclass
class PassResult:
    returncode: int
    report: dict[str, Any] | None
    stdout: str
    stderr: str

    def logs(self) -> list[dict[str, Any]]:
        """The service's JSON log lines (other stderr lines are skipped)."""
        return parse_logs(self.stderr)


def tail(text: str, lines: int = 12) -> str:
    """The end of a process's output, for assertion messages."""
    return "\n".join(text.strip().splitlines()[-lines:])[-3000:]


def parse_logs(text: str) -> list[dict[str, Any]]:
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


@dataclass
class Enricher:
    """The enricher CLI for one test: a YAML config (hosts = the proxy unless told otherwise) and helpers."""

    workdir: Path
    names: Names
    host: str
    patterns: list[str]
    overrides: dict[str, Any] = field(default_factory=dict)
    processes: list["Service"] = field(default_factory=list)

    def config(self, **overrides: Any) -> Path:
        settings: dict[str, Any] = {
            "opensearch": {"hosts": [self.host], "timeout_seconds": 30},
            "state_index": self.names.state,
            "templates_index": self.names.templates,
            "source": {"index_patterns": self.patterns, "lookback": None, "batch_size": 200},
            "sink": {"initial_backoff_seconds": 0.2, "max_backoff_seconds": 2.0},
            "models": {"registry": str(self.workdir / "emptyregistry")},
            "schedule": {"interval_seconds": 2},
            "log_format": "json",
        }
        for section, value in {**self.overrides, **overrides}.items():
            if isinstance(value, dict) and isinstance(settings.get(section), dict):
                settings[section] = {**settings[section], **value}
            else:
                settings[section] = value
        path = self.workdir / f"config-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump(settings))
        return path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENRICHER_")}
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "enricher.cli.main", *args]

    def once(self, config: Path | None = None, timeout: float = 600, **overrides: Any) -> PassResult:
        config = config or self.config(**overrides)
        done = subprocess.run(self.command("once", "--config", str(config), "--no-progress", "--json"),
                              capture_output=True, text=True, timeout=timeout, env=self.env(), cwd=REPO_ROOT)
        report = None
        if done.returncode == 0:
            start = done.stdout.find("{")
            report = json.loads(done.stdout[start:]) if start >= 0 else None
        return PassResult(done.returncode, report, done.stdout, done.stderr)

    def start(self, verb: str = "run", config: Path | None = None, **overrides: Any) -> "Service":
        """Start a CLI command in the background; its output goes to files (a full pipe would block it)."""
        config = config or self.config(**overrides)
        args = [verb, "--config", str(config)]
        if verb == "once":
            args += ["--no-progress", "--json"]
        tag = uuid.uuid4().hex[:6]
        out, err = self.workdir / f"{verb}-{tag}.out", self.workdir / f"{verb}-{tag}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(self.command(*args), stdout=stdout, stderr=stderr, text=True,
                                       env=self.env(), cwd=REPO_ROOT)
        service = Service(process, out, err)
        self.processes.append(service)
        return service

    def status(self, config: Path | None = None, **overrides: Any) -> dict[str, Any]:
        config = config or self.config(**overrides)
        done = subprocess.run(self.command("status", "--config", str(config), "--json"),
                              capture_output=True, text=True, timeout=120, env=self.env(), cwd=REPO_ROOT)
        assert done.returncode == 0, f"status failed ({done.returncode}): {done.stderr[-2000:]}"
        return json.loads(done.stdout[done.stdout.find("{"):])

    def cli(self, *args: str, config: Path | None = None, **overrides: Any) -> subprocess.CompletedProcess:
        config = config or self.config(**overrides)
        return subprocess.run(self.command(*args, "--config", str(config)), capture_output=True, text=True,
                              timeout=300, env=self.env(), cwd=REPO_ROOT)

    def stop_all(self) -> None:
        for service in self.processes:
            if service.poll() is None:
                service.send_signal(signal.SIGKILL)
                service.wait(timeout=30)


@dataclass
class Service:
    """A CLI process started in the background, with its output in files."""

    process: subprocess.Popen
    stdout_path: Path
    stderr_path: Path

    def poll(self) -> int | None:
        return self.process.poll()

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout=timeout)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def report(self) -> dict[str, Any] | None:
        text = self.stdout()
        start = text.find("{")
        return json.loads(text[start:]) if start >= 0 and self.process.returncode == 0 else None


# -- documents -------------------------------------------------------------------------------------
LOG_MAPPING = {"properties": {"@timestamp": {"type": "date"}, "message": {"type": "text"},
                              "trace_id": {"type": "keyword"}, "level": {"type": "keyword"},
                              "host": {"type": "keyword"}, "service": {"type": "keyword"}}}


def create_index(client: OpenSearch, index: str, mappings: dict[str, Any] | None = None, shards: int = 1) -> None:
    client.indices.create(index=index, body={
        "settings": {"number_of_shards": shards, "number_of_replicas": 0},
        "mappings": mappings or LOG_MAPPING,
    })


def load(client: OpenSearch, index: str, docs: Iterable[dict[str, Any]], *, prefix: str = "d",
         start: int = 0, create: bool = True, mappings: dict[str, Any] | None = None,
         shards: int = 1) -> dict[str, dict]:
    """Index documents with ids ``{prefix}{n:06d}``; return them by id."""
    if create and not client.indices.exists(index=index):
        create_index(client, index, mappings, shards)
    by_id = {f"{prefix}{start + i:06d}": doc for i, doc in enumerate(docs)}
    actions = ({"_index": index, "_id": doc_id, "_source": doc} for doc_id, doc in by_id.items())
    ok, errors = helpers.bulk(client, actions, refresh="wait_for", chunk_size=2000, raise_on_error=False)
    assert not errors, f"loading test documents failed: {errors[:3]}"
    return by_id


def sample_docs(count: int, *, seed: int = 3, hours_ago: float = 1.0) -> list[dict[str, Any]]:
    from datetime import datetime, timedelta, timezone

    from enricher.samples import generate

    start = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    return list(generate(count, start=start, seed=seed, anomaly_rate=0.02))


def fetch_all(client: OpenSearch, index: str) -> dict[str, dict[str, Any]]:
    client.indices.refresh(index=index, params={"ignore_unavailable": "true"})
    hits = helpers.scan(client, index=index, query={"query": {"match_all": {}}},
                        params={"version": "true", "seq_no_primary_term": "true"})
    return {hit["_id"]: hit for hit in hits}


def count_enriched(client: OpenSearch, index: str) -> int:
    client.indices.refresh(index=index, params={"ignore_unavailable": "true"})
    body = {"query": {"exists": {"field": f"{NAMESPACE}.status"}}}
    return int(client.count(index=index, body=body, params={"ignore_unavailable": "true"})["count"])


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    """Poll until ``condition()`` holds or ``timeout`` seconds pass; return whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def check_enriched_once(stored: dict[str, dict], originals: dict[str, dict], *, writes: dict[str, int] | None = None,
                        allow_error: bool = False) -> None:
    """Every original document is present, enriched exactly once, its original fields unchanged."""
    missing = sorted(set(originals) - set(stored))
    assert not missing, f"{len(missing)} documents lost, e.g. {missing[:5]}"
    not_enriched, changed, twice = [], [], []
    for doc_id, original in originals.items():
        hit = stored[doc_id]
        source = dict(hit["_source"])
        enrichment = source.pop(NAMESPACE, None)
        wanted = ("ok", "error") if allow_error else ("ok",)
        if not isinstance(enrichment, dict) or enrichment.get("status") not in wanted:
            not_enriched.append(doc_id)
        if source != original:
            changed.append(doc_id)
        expected_version = 2 + (writes or {}).get(doc_id, 0)
        if hit["_version"] > expected_version and enrichment is not None:
            twice.append((doc_id, hit["_version"]))
    assert not changed, f"{len(changed)} documents had original fields changed, e.g. {changed[:5]}"
    assert not not_enriched, f"{len(not_enriched)} of {len(originals)} documents not enriched, e.g. {not_enriched[:5]}"
    assert not twice, f"{len(twice)} documents written more than once (id, _version), e.g. {twice[:5]}"


def novelty_problems(stored: dict[str, dict], client: OpenSearch, templates_index: str, *,
                     include_unknown: bool = False) -> list[str]:
    """Templates in the templates index without exactly one novel document, aliases (ids a template had before
    it generalised) that documents still carry, and (with ``include_unknown``) templates that documents carry
    but the templates index does not know."""
    client.indices.refresh(index=templates_index, params={"ignore_unavailable": "true"})
    records = {hit["_id"]: hit["_source"] for hit in helpers.scan(
        client, index=templates_index, query={"query": {"match_all": {}}}, _source=["canonical_id"])}
    aliases = {tid for tid, record in records.items() if record.get("canonical_id")}
    known = set(records) - aliases
    novel: dict[str, int] = {}
    used: set[str] = set()
    for hit in stored.values():
        template = (hit["_source"].get(NAMESPACE) or {}).get("template") or {}
        if "id" in template:
            used.add(template["id"])
            if template.get("novel"):
                novel[template["id"]] = novel.get(template["id"], 0) + 1
    problems = [f"template {tid}: {novel.get(tid, 0)} novel documents" for tid in sorted(known)
                if novel.get(tid, 0) != 1]
    problems += [f"template {tid}: novel on documents but not in the templates index"
                 for tid in sorted(set(novel) - known - aliases)]
    problems += [f"template {tid}: an alias, still carried by documents" for tid in sorted(used & aliases)]
    if include_unknown:
        problems += [f"template {tid}: used by documents but not in the templates index"
                     for tid in sorted(used - known)]
    return problems


def pushback_lines(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Warning/error log lines that say the cluster pushed back (429/503, rejected, busy)."""
    words = ("429", "503", "reject", "push", "back off", "backing off", "overload", "busy", "throttl")
    found = []
    for record in records:
        if record.get("level") not in ("WARNING", "ERROR", "CRITICAL"):
            continue
        # The message and the fields that carry a cause, without paths (they hold the test's name).
        said = [record.get("message", "")] + [str(record.get(key, "")) for key in ("status", "reason", "error")]
        text = re.sub(r"\S*/\S*", " ", " ".join(said)).lower()
        if any(word in text for word in words):
            found.append(record)
    return found


def enriched_total(status: dict[str, Any]) -> int:
    """Total documents enriched as ``status --json`` reports it (a ``totals`` object or the checkpoint)."""
    totals = status.get("totals")
    if isinstance(totals, dict):
        for key in ("documents_enriched", "enriched"):
            if key in totals:
                return int(totals[key])
    return int(status["checkpoint"]["documents_enriched"])
