"""A fault-injecting HTTP reverse proxy in front of a real OpenSearch, for the fault tests and the soak bench.

Standard library only. It listens on 127.0.0.1 (a free port), forwards every request to the upstream node,
and applies the rules the test has added, first match wins per kind:

- ``answer``: reply with a status (429, 503, ...) instead of forwarding;
- ``drop``: close the connection without answering (the client sees a dropped connection);
- ``delay``: wait, then forward;
- ``down``: close every connection at once for a while (a node restart, a network cut);
- ``reject_items``: inside ``_bulk``, answer chosen items with 429/503 and an error object, either
  "not applied" (the item is removed from the forwarded body, its answer faked) or "applied" (forwarded,
  then its answer rewritten, as a node that applied the write but answered late or wrongly would).

Each rule can be limited to a path (regex), to a share of requests or items, to a number of hits, to a
time window, to bulk operations (``create``, ``update``...) and to index names (glob). Every hit is
counted, so a test can check that its fault really happened.
"""

from __future__ import annotations

import fnmatch
import http.client
import json
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length", "accept-encoding", "content-encoding"}


@dataclass
class Rule:
    """One fault. ``kind`` is answer, drop, delay, down or reject_items."""

    kind: str
    status: int = 503
    share: float = 1.0  # of matching requests (or, for reject_items, of matching items)
    path: str | None = None  # regex searched in the request path
    methods: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()  # bulk operations for reject_items: create, update, index, delete
    index: str | None = None  # glob on the item's (or the path's) index name
    applied: bool = False  # reject_items: forward the item, then rewrite its answer
    once_per_item: bool = False  # reject_items: each (index, id) at most once
    seconds: float = 0.0  # delay length
    limit: int | None = None  # stop after this many hits
    until: float | None = None  # time.monotonic() deadline
    hits: int = 0
    seen_items: set[tuple[str, str]] = field(default_factory=set)

    def active(self) -> bool:
        if self.until is not None and time.monotonic() >= self.until:
            return False
        return self.limit is None or self.hits < self.limit

    def matches_request(self, method: str, path: str) -> bool:
        if self.methods and method not in self.methods:
            return False
        return self.path is None or re.search(self.path, path) is not None


class FaultProxy:
    """Start with :meth:`start` (or as a context manager); add rules any time; :meth:`stop` at the end."""

    def __init__(self, upstream: str = "http://127.0.0.1:9200", *, seed: int = 0) -> None:
        match = re.match(r"^http://([^:/]+):(\d+)/?$", upstream)
        if not match:
            raise ValueError(f"upstream must look like http://host:port, not {upstream!r}")
        self.upstream_host, self.upstream_port = match.group(1), int(match.group(2))
        self.rules: list[Rule] = []
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.requests = 0
        self.forwarded = 0
        self.down_until = 0.0
        self.down_hits = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FaultProxy":
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, kind: str, *, for_seconds: float | None = None, **options: Any) -> Rule:
        """Add a rule; ``for_seconds`` makes it expire that long from now."""
        rule = Rule(kind=kind, **options)
        if for_seconds is not None:
            rule.until = time.monotonic() + for_seconds
        with self.lock:
            self.rules.append(rule)
        return rule

    def down(self, seconds: float) -> None:
        """Close every connection (new and kept-alive) for ``seconds`` from now."""
        with self.lock:
            self.down_until = time.monotonic() + seconds

    def up(self) -> None:
        with self.lock:
            self.down_until = 0.0

    def is_down(self) -> bool:
        with self.lock:
            down = time.monotonic() < self.down_until
            if down:
                self.down_hits += 1
            return down

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.down_until = 0.0

    # -- decisions (called by handler threads) ---------------------------------------------------
    def request_rule(self, method: str, path: str) -> Rule | None:
        with self.lock:
            self.requests += 1
            for rule in self.rules:
                if rule.kind in ("answer", "drop", "delay") and rule.active() and rule.matches_request(method, path):
                    if rule.index and not fnmatch.fnmatch(_path_index(path), rule.index):
                        continue
                    if self.rng.random() < rule.share:
                        rule.hits += 1
                        return rule
        return None

    def item_rule(self, op: str, index: str, doc_id: str, path: str, applied: bool) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.kind != "reject_items" or rule.applied != applied or not rule.active():
                    continue
                if not rule.matches_request("POST", path) and not rule.matches_request("PUT", path):
                    continue
                if rule.ops and op not in rule.ops:
                    continue
                if rule.index and not fnmatch.fnmatch(index, rule.index):
                    continue
                if rule.once_per_item and (index, doc_id) in rule.seen_items:
                    continue
                if self.rng.random() < rule.share:
                    rule.hits += 1
                    rule.seen_items.add((index, doc_id))
                    return rule
        return None

    def has_item_rules(self) -> bool:
        with self.lock:
            return any(rule.kind == "reject_items" and rule.active() for rule in self.rules)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request (the point of some tests) is not an error of the proxy."""


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        proxy = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if proxy.is_down():
            self._drop()
            return
        rule = proxy.request_rule(self.command, self.path)
        if rule is not None and rule.kind == "drop":
            self._drop()
            return
        if rule is not None and rule.kind == "answer":
            error = {"error": {"type": "fault_proxy_exception", "reason": f"injected {rule.status}"},
                     "status": rule.status}
            self._reply(rule.status, json.dumps(error).encode(), {"Content-Type": "application/json"})
            return
        if rule is not None and rule.kind == "delay":
            time.sleep(rule.seconds)
        if "_bulk" in self.path.split("?")[0] and proxy.has_item_rules():
            self._bulk(body)
            return
        status, payload, headers = self._forward(body)
        self._reply(status, payload, headers)

    # -- bulk item faults ------------------------------------------------------------------------
    def _bulk(self, body: bytes) -> None:
        proxy = self.owner
        items = _parse_bulk(body, _path_index(self.path))
        kept_lines: list[bytes] = []
        faked: dict[int, dict[str, Any]] = {}
        rewritten: dict[int, Rule] = {}
        for position, (op, index, doc_id, lines) in enumerate(items):
            rule = proxy.item_rule(op, index, doc_id, self.path, applied=False)
            if rule is not None:
                faked[position] = _item_error(op, index, doc_id, rule.status)
                continue
            rule = proxy.item_rule(op, index, doc_id, self.path, applied=True)
            if rule is not None:
                rewritten[position] = rule
            kept_lines.extend(lines)
        answers: list[dict[str, Any]] = []
        if kept_lines:
            status, payload, headers = self._forward(b"".join(line + b"\n" for line in kept_lines))
            if status != 200:
                self._reply(status, payload, headers)
                return
            answers = json.loads(payload)["items"]
        answer_iter = iter(answers)
        merged = []
        for position, (op, index, doc_id, _) in enumerate(items):
            if position in faked:
                merged.append(faked[position])
                continue
            answer = next(answer_iter)
            if position in rewritten:
                answer = _item_error(op, index, doc_id, rewritten[position].status)
            merged.append(answer)
        errors = any(next(iter(item.values())).get("status", 200) >= 300 for item in merged)
        payload = json.dumps({"took": 1, "errors": errors, "items": merged}).encode()
        self._reply(200, payload, {"Content-Type": "application/json"})

    # -- plumbing --------------------------------------------------------------------------------
    def _forward(self, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        proxy = self.owner
        connection = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=300)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
            headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
            connection.request(self.command, self.path, body=body if body or self.command != "GET" else None,
                               headers=headers)
            response = connection.getresponse()
            payload = response.read()
            out = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            with proxy.lock:
                proxy.forwarded += 1
            return response.status, payload, out
        finally:
            connection.close()

    def _reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _path_index(path: str) -> str:
    first = path.split("?")[0].strip("/").split("/")[0]
    return "" if first.startswith("_") else first


def _parse_bulk(body: bytes, default_index: str) -> list[tuple[str, str, str, list[bytes]]]:
    """(operation, index, id, raw lines) per item of a bulk body."""
    lines = [line for line in body.split(b"\n") if line.strip()]
    items = []
    position = 0
    while position < len(lines):
        action = json.loads(lines[position])
        op, meta = next(iter(action.items()))
        count = 1 if op == "delete" else 2
        index, doc_id = meta.get("_index", default_index), str(meta.get("_id", ""))
        items.append((op, index, doc_id, lines[position:position + count]))
        position += count
    return items


def _item_error(op: str, index: str, doc_id: str, status: int) -> dict[str, Any]:
    kind = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
    return {op: {"_index": index, "_id": doc_id, "status": status,
                 "error": {"type": kind, "reason": f"injected by the fault proxy ({status})"}}}
