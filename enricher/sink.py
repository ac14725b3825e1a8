"""Sink: writes enrichment results back with ``_bulk`` partial updates.

Only the configured namespace (``enrichment`` by default) is ever sent, so original fields are never
changed. Every update carries ``if_seq_no``/``if_primary_term`` from the read: if anyone wrote the
document in between, OpenSearch answers 409 and the caller re-reads and re-enriches it instead of
overwriting. Rejections under load (429, and 502/503/504) are retried with exponential backoff, both for
whole requests and for single items; opensearch-py's ``streaming_bulk`` retries per-item 429s itself,
and this module retries what it gives back (per-item 503s, exhausted 429s, failed requests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from enricher.config import SinkConfig

log = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
CONFLICT_STATUS = 409


@dataclass(slots=True)
class DocumentUpdate:
    index: str
    doc_id: str
    seq_no: int
    primary_term: int
    fields: dict[str, Any]  # the namespace's content, e.g. {"status": "ok", "template": {...}}
    input_fingerprint: Any = None  # what the fields were computed from; not sent


@dataclass
class SinkReport:
    written: int = 0
    conflicts: list[DocumentUpdate] = field(default_factory=list)  # to re-read and retry
    failed: list[tuple[DocumentUpdate, str]] = field(default_factory=list)  # permanent, with the reason
    retries: int = 0


class BulkSink:
    def __init__(
        self, client: OpenSearch, config: SinkConfig, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.client = client
        self.config = config
        self._sleep = sleep

    def write(self, updates: list[DocumentUpdate]) -> SinkReport:
        report = SinkReport()
        pending = list(updates)
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                report.retries += 1
                self._sleep(self._backoff(attempt))
            pending = self._write_once(pending, report, last_attempt=attempt == self.config.max_retries)
            if not pending:
                break
        return report

    def _backoff(self, attempt: int) -> float:
        return min(self.config.max_backoff_seconds, self.config.initial_backoff_seconds * 2 ** (attempt - 1))

    def _action(self, update: DocumentUpdate) -> dict[str, Any]:
        return {
            "_op_type": "update",
            "_index": update.index,
            "_id": update.doc_id,
            "if_seq_no": update.seq_no,
            "if_primary_term": update.primary_term,
            "doc": {self.config.namespace: update.fields},
        }

    def _write_once(self, updates: list[DocumentUpdate], report: SinkReport, *, last_attempt: bool) -> list[DocumentUpdate]:
        """Send ``updates``; return those to try again (transient failures)."""
        by_key = {(u.index, u.doc_id): u for u in updates}
        answered: set[tuple[str, str]] = set()
        retry: list[DocumentUpdate] = []
        try:
            for ok, item in helpers.streaming_bulk(
                self.client,
                (self._action(u) for u in updates),
                chunk_size=self.config.chunk_size,
                max_retries=self.config.max_retries,
                initial_backoff=self.config.initial_backoff_seconds,
                max_backoff=self.config.max_backoff_seconds,
                raise_on_error=False,
                raise_on_exception=True,
                refresh=self.config.refresh,
            ):
                result = item["update"]
                key = (result["_index"], result["_id"])
                answered.add(key)
                update = by_key[key]
                status = result.get("status", 500)
                if ok:
                    report.written += 1
                elif status == CONFLICT_STATUS:
                    report.conflicts.append(update)
                elif status in TRANSIENT_STATUSES and not last_attempt:
                    retry.append(update)
                else:
                    report.failed.append((update, _reason(result)))
        except (TransportError, OSConnectionError, ConnectionTimeout) as exc:
            status = getattr(exc, "status_code", None)
            transient = status in TRANSIENT_STATUSES or isinstance(exc, (OSConnectionError, ConnectionTimeout))
            if not transient or last_attempt:
                raise
            log.warning("bulk request failed, will retry", extra={"status": status, "error": str(exc)[:200]})
            retry.extend(u for key, u in by_key.items() if key not in answered)
        return retry


def _reason(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"[:500]
    return str(error or f"status {result.get('status')}")[:500]
