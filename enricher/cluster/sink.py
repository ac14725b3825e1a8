"""Sink: writes enrichment results back with ``_bulk`` partial updates, one outcome per document.

Only the configured namespace (``enrichment`` by default) is ever sent, so original fields are never
changed. Every update carries ``if_seq_no``/``if_primary_term`` from the read: if anyone wrote the
document in between, OpenSearch answers 409 and the caller re-reads it instead of overwriting.

Like opensearch-py's ``streaming_bulk``, :meth:`BulkSink.write` yields one result per document as the
answers come; unlike it, items answered 429/5xx are retried by the one :class:`~enricher.retry.RetryPolicy`
(whole requests are, by the client's transport), and each round of pushback is logged once with its
counts, so a cluster under pressure is visible rather than merely slow.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from itertools import chain
from typing import Any

from opensearchpy import OpenSearch, helpers

from enricher.config import SinkConfig
from enricher.retry import TRANSIENT_STATUSES, RetryPolicy

log = logging.getLogger(__name__)

CONFLICT_STATUS = 409
GONE_STATUS = 404
BLOCKED_STATUS = 403  # cluster_block_exception: a write block (e.g. disk flood stage) that lifts later


@dataclass(slots=True)
class DocumentUpdate:
    index: str
    doc_id: str
    seq_no: int
    primary_term: int
    fields: dict[str, Any]  # the namespace's content, e.g. {"status": "ok", "template": {...}}

    @property
    def ref(self) -> tuple[str, str]:
        return self.index, self.doc_id


class Outcome(str, Enum):
    WRITTEN = "written"
    CONFLICT = "conflict"  # someone wrote the document since it was read: re-read it, then decide
    PENDING = "pending"  # not written now (pushback that outlasted the retries, a blocked index): retried later
    REJECTED = "rejected"  # refused for good (e.g. a field does not fit the index's mapping)
    GONE = "gone"  # the document (or its index) was deleted since it was read


@dataclass(slots=True)
class WriteResult:
    update: DocumentUpdate
    outcome: Outcome
    reason: str = ""


def item_outcome(status: int) -> Outcome:
    if status < 300:
        return Outcome.WRITTEN
    if status == CONFLICT_STATUS:
        return Outcome.CONFLICT
    if status == GONE_STATUS:
        return Outcome.GONE
    if status in TRANSIENT_STATUSES or status == BLOCKED_STATUS or status >= 500:
        return Outcome.PENDING
    return Outcome.REJECTED


class BulkSink:
    def __init__(
        self,
        client: OpenSearch,
        config: SinkConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[int], None] = lambda count: None,
    ) -> None:
        self.client = client
        self.config = config
        self.policy = RetryPolicy(config.max_retries, config.initial_backoff_seconds, config.max_backoff_seconds)
        self._sleep = sleep
        self._on_retry = on_retry

    def write(self, updates: list[DocumentUpdate]) -> Iterator[WriteResult]:
        """Send ``updates``; yield each document's final outcome (items answered 429/5xx retried first).

        A whole request that fails is retried by the client's transport with the same policy; when it
        keeps failing its error is raised: the documents stay pending and the pass stops.
        """
        pending = list(updates)
        for attempt, delay in enumerate(chain(self.policy.delays(), [None]), start=1):
            retry: list[DocumentUpdate] = []
            reasons: Counter[str] = Counter()
            for update, status, reason in self._send(pending):
                if status in TRANSIENT_STATUSES:
                    retry.append(update)
                    reasons[reason.split(":")[0]] += 1
                else:
                    yield WriteResult(update, item_outcome(status), reason)
            if not retry:
                return
            if delay is None:
                for update in retry:
                    yield WriteResult(update, Outcome.PENDING, f"still rejected after {attempt} attempts")
                return
            self._on_retry(len(retry))
            log.warning(
                "OpenSearch pushed back: %d of %d updates not accepted (%s); retrying in %.1f s (attempt %d of %d)",
                len(retry), len(pending), dict(reasons), delay, attempt + 1, self.policy.max_retries + 1,
                extra={"rejected": len(retry), "sent": len(pending), "reasons": dict(reasons)},
            )
            self._sleep(delay)
            pending = retry

    def _send(self, updates: list[DocumentUpdate]) -> Iterator[tuple[DocumentUpdate, int, str]]:
        """One round: every update sent once; yields (update, status, reason) as items are answered."""
        by_ref = {u.ref: u for u in updates}
        actions = ({"_op_type": "update", "_index": u.index, "_id": u.doc_id, "if_seq_no": u.seq_no,
                    "if_primary_term": u.primary_term, "doc": {self.config.namespace: u.fields}} for u in updates)
        # max_retries=0: the policy above retries; streaming_bulk's own loop would multiply it.
        for _, item in helpers.streaming_bulk(self.client, actions, chunk_size=self.config.chunk_size,
                                              max_retries=0, raise_on_error=False, raise_on_exception=True,
                                              refresh=self.config.refresh):
            result = item["update"]
            update = by_ref[(result["_index"], result["_id"])]
            yield update, int(result.get("status", 500)), _reason(result)


def _reason(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"[:500]
    return str(error or f"status {result.get('status')}")[:500] if result.get("status", 500) >= 300 else ""
