"""Generated sample logs for the quickstart and tests: no external data needed.

A small web shop: each request and each background job (session key ``trace_id``) walks through a
fixed flow of log events. ``history`` is normal traffic, used to train the models; ``live`` is
new traffic with injected anomalies (failing requests, flows out of order, never-seen events) and a few
malformed documents, so one enrichment pass has something to find.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

SERVICES = ("checkout", "catalog", "payments")
HOSTS = ("web-01", "web-02", "web-03")
USERS = ("alice", "bob", "carol", "dave", "erin", "frank")

_NORMAL_FLOW = (
    ("INFO", "Received {method} request for {path} from {ip}"),
    ("INFO", "Authenticated user {user} with session {session}"),
    ("DEBUG", "Cache lookup for key {key} returned {hit}"),
    ("INFO", "Query on table {table} returned {rows} rows in {ms} ms"),
    ("INFO", "Completed {method} {path} with status 200 in {ms} ms"),
)
_JOB_START = ("INFO", "Scheduled job {job} started on {host}")
_JOB_STEP = ("INFO", "Heap usage {pct}% of {mb} MB after garbage collection")
_JOB_SLOW = ("WARNING", "Slow query on table {table} took {slow} ms")
_JOB_END = ("INFO", "Scheduled job {job} finished in {ms} ms, {rows} items processed")
_FAILURES = (
    ("ERROR", "Database connection to {ip}:5432 timed out after {slow} ms"),
    ("ERROR", "Payment gateway returned error code {code} for order {order}"),
    ("CRITICAL", "Out of memory while processing order {order}; worker {pid} killed"),
    ("ERROR", "Unhandled exception in handler {path}: NullPointerException at line {line}"),
)


def _values(rng: random.Random, host: str) -> dict[str, Any]:
    return {
        "method": rng.choice(("GET", "POST")),
        "path": rng.choice(("/api/cart", "/api/items", "/api/orders", "/api/pay")) + f"/{rng.randint(1, 9999)}",
        "ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "user": rng.choice(USERS),
        "session": f"{rng.getrandbits(64):016x}",
        "key": f"item:{rng.randint(1, 500)}",
        "hit": rng.choice(("hit", "miss")),
        "table": rng.choice(("orders", "items", "users")),
        "rows": rng.randint(0, 200),
        "ms": rng.randint(1, 250),
        "slow": rng.randint(2000, 30000),
        "job": rng.choice(("reindex", "cleanup", "report")),
        "host": host,
        "pct": rng.randint(20, 80),
        "mb": rng.choice((512, 1024, 2048)),
        "code": rng.choice((402, 500, 502)),
        "order": f"ord-{rng.randint(100000, 999999)}",
        "pid": rng.randint(1000, 65000),
        "line": rng.randint(10, 900),
    }


def _doc(ts: datetime, level: str, text: str, service: str, host: str, trace: str) -> dict[str, Any]:
    return {
        "@timestamp": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message": text, "level": level, "service": service, "host": host, "trace_id": trace,
    }


def generate(
    count: int,
    *,
    start: datetime,
    seed: int = 7,
    anomaly_rate: float = 0.0,
    malformed: bool = False,
) -> Iterator[dict[str, Any]]:
    """``count`` documents (about), time-ordered from ``start``; anomalous requests at ``anomaly_rate``."""
    rng = random.Random(seed)
    ts = start
    produced = 0
    request = 0
    while produced < count:
        host, service = rng.choice(HOSTS), rng.choice(SERVICES)
        request += 1
        is_job = rng.random() < 0.1
        trace = f"{'job' if is_job else 'req'}-{seed}-{request:07d}"
        events = _job_events(rng) if is_job else _request_events(rng, anomaly_rate)
        for level, text in events:
            ts += timedelta(milliseconds=rng.randint(1, 120))
            yield _doc(ts, level, text.format(**_values(rng, host)), service, host, trace)
            produced += 1
    if malformed:
        yield from _malformed(ts)


def _job_events(rng: random.Random) -> list[tuple[str, str]]:
    steps = [_JOB_STEP] * rng.randint(1, 3)
    if rng.random() < 0.3:
        steps.insert(rng.randint(0, len(steps)), _JOB_SLOW)
    return [_JOB_START, *steps, _JOB_END]


def _request_events(rng: random.Random, anomaly_rate: float) -> list[tuple[str, str]]:
    flow = list(_NORMAL_FLOW)
    if rng.random() >= anomaly_rate:
        return flow
    kind = rng.choice(("failure", "reorder", "truncated"))
    if kind == "failure":  # a failure replaces the last steps
        return flow[: rng.randint(2, 4)] + [rng.choice(_FAILURES)]
    if kind == "reorder":  # completed before it was authenticated
        return [flow[0], flow[4], flow[1], flow[3]]
    return [flow[0], flow[0], flow[0]]  # a retried request that never progresses


def _malformed(ts: datetime) -> Iterator[dict[str, Any]]:
    stamp = ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    yield {"@timestamp": stamp, "level": "INFO", "service": "checkout", "host": "web-01"}  # no message
    yield {"@timestamp": stamp, "message": 12345, "level": "INFO", "service": "checkout", "host": "web-01"}
    yield {"@timestamp": stamp, "message": "x" * 100_000, "level": "INFO", "service": "checkout", "host": "web-02"}


def history_and_live(
    history: int = 6000, live: int = 2000, *, now: datetime | None = None, seed: int = 7
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Normal history (ending two hours ago) and live traffic with anomalies (the last hour)."""
    now = now or datetime.now(timezone.utc)
    past = list(generate(history, start=now - timedelta(hours=6), seed=seed))
    recent = list(generate(live, start=now - timedelta(minutes=55), seed=seed + 1, anomaly_rate=0.05, malformed=True))
    return past, recent
