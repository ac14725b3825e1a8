"""(f) Fuzzed documents: every one ends enriched or marked as an error with a reason; nothing stays pending."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from opensearchpy import helpers

from .helpers import NAMESPACE, check_enriched_once, fetch_all, tail

pytestmark = [pytest.mark.faults, pytest.mark.integration]

# Only the timestamp is indexed (and may be malformed): every other field may hold any JSON value.
FUZZ_MAPPING = {"dynamic": False, "properties": {"@timestamp": {"type": "date", "ignore_malformed": True}}}
WEIRD_TEXT = ["", " ", "\t\n", "-", "\x00", "null", "ü" * 300, "日本語のログ 接続 エラー", "مرحبا خطأ في الاتصال",
              "\u200b\u200b", "e\u0301" * 50, "😀🔥 disk full 💾", "a\u202eb", "%s %d {} {0} ${jndi:ldap://x}",
              "<*> <*> <*>", "line1\nline2\r\nline3", "\\x41\\u0000", "'; DROP TABLE logs; --", "x" * 70_000,
              "é" * 40_000, "word " * 5_000]


def fuzz_message(rng: random.Random, n: int) -> Any:
    choice = rng.randrange(14)
    if choice < 5:  # plain, with variables
        return f"User u{rng.randint(1, 50)} fetched {rng.randint(1, 9999)} rows from shard {rng.randint(0, 9)}"
    if choice == 5:
        return rng.choice(WEIRD_TEXT)
    if choice == 6:
        return rng.choice([0, -1, 3.14, 10 ** 30, True, False])
    if choice == 7:
        return None
    if choice == 8:
        return {"text": "nested message", "level": {"deep": [1, 2, {"x": "y"}]}}
    if choice == 9:
        return ["a list", "of strings", n]
    if choice == 10:
        return "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0x370, 0x3FF), rng.randint(0x4E00, 0x4E80),
                                        rng.randint(0x1F300, 0x1F5FF)])) for _ in range(rng.randint(1, 400)))
    if choice == 11:
        return "x" * rng.choice([65_535, 65_536, 65_537, 200_000])
    if choice == 12:
        return f"Request {n} " + " ".join(f"k{i}=v{rng.randint(0, 10 ** 6)}" for i in range(rng.randint(50, 400)))
    return "MISSING"


def fuzz_timestamp(rng: random.Random, base: datetime, n: int) -> Any:
    choice = rng.randrange(12)
    if choice < 6:
        return (base + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
    return rng.choice([
        "not a date", "", "2026-13-45T99:99:99Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
        int((base + timedelta(seconds=n)).timestamp() * 1000), -5, 1.5e12, None, "MISSING", "2026-01-01",
        "2026-01-01T00:00:00+14:00", {"nested": "date"}, ["2026-01-01T00:00:00Z"],
    ])


def fuzz_docs(count: int, seed: int = 13) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    base = datetime.now(timezone.utc) - timedelta(hours=2)
    docs = []
    for n in range(count):
        doc: dict[str, Any] = {}
        timestamp, message = fuzz_timestamp(rng, base, n), fuzz_message(rng, n)
        if timestamp != "MISSING":
            doc["@timestamp"] = timestamp
        if message != "MISSING":
            doc["message"] = message
        if rng.random() < 0.3:
            doc["trace_id"] = rng.choice(["", "-", None, 42, ["a", "b"], {"id": 1}, "t" * 5000, f"req-{n % 40}"])
        if rng.random() < 0.2:
            doc["host"] = rng.choice([{"name": f"h{n % 5}"}, ["h1", "h2"], f"h{n % 3}", ""])
        if rng.random() < 0.05:
            doc[NAMESPACE + "_like"] = {"status": "ok"}  # a look-alike field must stay untouched
        docs.append(doc)
    return docs


def test_fuzzed_documents_all_end_ok_or_error_with_reason(opensearch, enricher, fnames, proxy):
    index = fnames.index("logs-fuzz")
    opensearch.indices.create(index=index, body={"settings": {"number_of_shards": 2, "number_of_replicas": 0},
                                                 "mappings": FUZZ_MAPPING})
    candidates = {f"f{n:05d}": doc for n, doc in enumerate(fuzz_docs(2000))}
    _, errors = helpers.bulk(opensearch, ({"_index": index, "_id": k, "_source": v} for k, v in candidates.items()),
                             refresh="wait_for", raise_on_error=False, chunk_size=200)
    refused = {next(iter(e.values()))["_id"] for e in errors}
    originals = {k: v for k, v in candidates.items() if k not in refused}
    assert len(originals) >= 1900, f"the cluster refused {len(refused)} fuzzed documents"

    result = enricher.once()

    assert result.returncode == 0, tail(result.stderr)
    stored = fetch_all(opensearch, index)
    check_enriched_once(stored, originals, allow_error=True)
    without_reason = [k for k in originals
                      if stored[k]["_source"][NAMESPACE]["status"] == "error"
                      and not (isinstance(stored[k]["_source"][NAMESPACE].get("error"), str)
                               and stored[k]["_source"][NAMESPACE]["error"].strip())]
    assert not without_reason, f"{len(without_reason)} errors without a reason, e.g. {without_reason[:5]}"
    statuses = [stored[k]["_source"][NAMESPACE]["status"] for k in originals]
    assert statuses.count("ok") > 1000 and statuses.count("error") > 100, "the fuzz should produce both outcomes"
    status = enricher.status()
    assert status["pending_documents"] == 0, status
    for key in ("pending_behind_checkpoint", "pending_ahead_of_checkpoint"):
        assert status.get(key, 0) == 0, status
