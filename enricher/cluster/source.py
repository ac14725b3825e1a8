"""Source: reads documents not yet enriched by the current pipeline version, oldest first.

A document is pending when it does not carry the current pipeline version, or when it was enriched
while a model now loaded was missing (``missing_models``). Paging uses a point-in-time (PIT) and
``search_after``, so one pass sees a consistent snapshot while new logs keep arriving; documents indexed
after the PIT was opened are picked up by the next pass. Sorting is by timestamp, then ``_doc`` (stable
within a PIT, and free: sorting on ``_id`` would load every id of the index into the heap). OpenSearch 2.x
has no ``_shard_doc``, so two documents on different shards can share a sort position; if one of them
falls on a page boundary it is skipped by this pass only: it is still pending, still within the next
pass's window (checkpoint - late_arrival), and enriched then.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from opensearchpy import NotFoundError, OpenSearch

from enricher.config import SessionConfig, Settings, SourceConfig
from enricher.records import LogInput

log = logging.getLogger(__name__)

TimeBound = datetime | str  # a datetime, or OpenSearch date math such as "now-6h"
DATE_TYPES = frozenset({"date", "date_nanos"})
SORT_MISSING = 1 << 62  # sort values beyond this are OpenSearch's stand-ins for a missing timestamp


class SourceError(RuntimeError):
    """OpenSearch answered a read only in part (failed shards): documents would be silently skipped."""


@dataclass(slots=True)
class SourceDocument:
    index: str
    doc_id: str
    seq_no: int
    primary_term: int
    source: dict[str, Any]
    sort: list[Any]

    @property
    def ref(self) -> tuple[str, str]:
        return self.index, self.doc_id

    @property
    def sorted_at(self) -> datetime | None:
        """The event time this document was sorted by (None when it has none)."""
        value = self.sort[0] if self.sort else None
        if isinstance(value, (int, float)) and abs(value) < SORT_MISSING:
            return datetime.fromtimestamp(value / 1000, timezone.utc)
        return None


def get_field(document: dict[str, Any], path: str) -> Any:
    """A field by dotted path, whether stored flat (``"host.name": x``) or nested (``host: {name: x}``)."""
    if path in document:
        return document[path]
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class DocumentSource:
    def __init__(
        self,
        client: OpenSearch,
        config: SourceConfig,
        *,
        namespace: str,
        pipeline_version: str,
        extra_fields: tuple[str, ...] = (),
        partition_fields: tuple[str, ...] = (),
    ) -> None:
        self.client = client
        self.config = config
        self.namespace = namespace
        self.pipeline_version = pipeline_version
        self.excluded: dict[str, str] = {}  # index -> why it is left out of every read
        self.loaded_models: list[str] = []  # kinds whose documents enriched without them are pending again
        self._session_keys = SessionKeys(config.session)
        self._partition_fields = partition_fields
        self._fields = sorted({
            config.message_field, config.timestamp_field, *config.session.fields, *config.level_fields,
            *partition_fields, *extra_fields,
            f"{namespace}.pipeline_version", f"{namespace}.enriched_at",
        })

    @classmethod
    def for_settings(cls, client: OpenSearch, settings: Settings) -> DocumentSource:
        """The source as the service reads it (with the template fields that novelty checks need)."""
        namespace = settings.sink.namespace
        return cls(client, settings.source, namespace=namespace, pipeline_version=settings.pipeline_version,
                   extra_fields=(f"{namespace}.template.id", f"{namespace}.template.novel"),
                   partition_fields=tuple(settings.templates.partition_fields))

    def refresh(self) -> None:
        """Make earlier writes searchable (their documents are no longer read as pending)."""
        self.client.indices.refresh(index=self.index, params={"ignore_unavailable": "true", "allow_no_indices": "true"})

    @property
    def index(self) -> str:
        """The index expression read: the patterns, less the indices left out (with the reason logged)."""
        return ",".join([*self.config.index_patterns, *(f"-{name}" for name in sorted(self.excluded))])

    def exclude(self, index: str, reason: str) -> None:
        if index not in self.excluded:
            log.error("leaving index %s out of enrichment: %s", index, reason, extra={"index": index, "reason": reason})
        self.excluded[index] = reason

    def check_timestamp_mapping(self) -> None:
        """Leave out indices whose timestamp field is not a date: they cannot be ranged or sorted on, and
        a search would fail on their shards (or skip their documents) on every pass."""
        field = self.config.timestamp_field
        response = self.client.field_caps(index=self.index, fields=field,
                                          params={"ignore_unavailable": "true", "allow_no_indices": "true"})
        by_type = response.get("fields", {}).get(field, {})
        all_indices = response.get("indices", [])
        for type_name, caps in by_type.items():
            if type_name in DATE_TYPES or type_name == "unmapped":
                continue
            for index in caps.get("indices") or all_indices:
                self.exclude(index, f"{field} is mapped as {type_name!r}, not as a date; reindex it with a date mapping")

    def log_input(self, doc: SourceDocument) -> LogInput:
        message = get_field(doc.source, self.config.message_field)
        return LogInput(message=message, session_key=self._session_keys(doc.source, message),
                        timestamp=epoch_seconds(get_field(doc.source, self.config.timestamp_field)), ref=doc.ref,
                        level=_first_text(doc.source, self.config.level_fields),
                        partition=_first_text(doc.source, self._partition_fields) or "")

    def pending_query(
        self, since: TimeBound | None, until: TimeBound | None = None, *, pending_only: bool = True
    ) -> dict[str, Any]:
        """Documents not yet enriched by this pipeline version, newer than ``since`` (or without a time).

        With ``pending_only=False``: every document in the time range (for training).
        """
        time_field = self.config.timestamp_field
        filters: list[dict[str, Any]] = []
        bounds = {op: value.isoformat() if isinstance(value, datetime) else value
                  for op, value in (("gte", since), ("lt", until)) if value is not None}
        if bounds:
            filters.append({"bool": {"minimum_should_match": 1, "should": [
                {"range": {time_field: bounds}},
                # A document without a timestamp is still enriched (and marked if it cannot be).
                {"bool": {"must_not": {"exists": {"field": time_field}}}},
            ]}})
        if self.config.query_filter:
            filters.append(self.config.query_filter)
        if pending_only:
            other_version = {"term": {f"{self.namespace}.pipeline_version": self.pipeline_version}}
            clauses: list[dict[str, Any]] = [{"bool": {"must_not": other_version}}]
            if self.loaded_models:  # enriched while one of these was missing: enrich again now it is here
                clauses.append({"terms": {f"{self.namespace}.missing_models": self.loaded_models}})
            filters.append({"bool": {"should": clauses, "minimum_should_match": 1}})
        return {"bool": {"filter": filters}}

    def sort(self) -> list[dict[str, Any]]:
        return [
            {self.config.timestamp_field: {"order": "asc", "missing": "_first", "unmapped_type": "date"}},
            {"_doc": {"order": "asc"}},
        ]

    def count_pending(self, since: TimeBound | None, until: TimeBound | None = None) -> int:
        if not self.any_index_exists():
            return 0
        response = self.client.count(
            index=self.index,
            body={"query": self.pending_query(since, until)},
            params={"ignore_unavailable": "true", "allow_no_indices": "true"},
        )
        _check_shards(response)
        return int(response["count"])

    def iter_batches(
        self,
        since: TimeBound | None,
        *,
        until: TimeBound | None = None,
        batch_size: int | None = None,
        pending_only: bool = True,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[list[SourceDocument]]:
        """Yield pages of pending documents, oldest first, until none are left or ``should_stop()``."""
        if not self.any_index_exists():
            return
        size = batch_size or self.config.batch_size
        pit_id = self.client.create_pit(index=self.index, params={"keep_alive": self.config.pit_keep_alive})["pit_id"]
        try:
            search_after: list[Any] | None = None
            while not should_stop():
                body: dict[str, Any] = {
                    "size": size,
                    "query": self.pending_query(since, until, pending_only=pending_only),
                    "sort": self.sort(),
                    "pit": {"id": pit_id, "keep_alive": self.config.pit_keep_alive},
                    "seq_no_primary_term": True,
                    "_source": self._fields,
                    "track_total_hits": False,
                }
                if search_after is not None:
                    body["search_after"] = search_after
                response = self.client.search(body=body)
                _check_shards(response)
                pit_id = response.get("pit_id", pit_id)
                hits = response["hits"]["hits"]
                if not hits:
                    return
                batch = [self._to_document(hit) for hit in hits]
                search_after = batch[-1].sort
                yield batch
                if len(hits) < size:
                    return
        finally:
            with suppress(NotFoundError):  # already expired
                self.client.delete_pit(body={"pit_id": [pit_id]})

    def reread(self, refs: list[tuple[str, str]]) -> list[SourceDocument]:
        """Fetch the current version of documents (after a version conflict); missing ones are dropped."""
        if not refs:
            return []
        body = {"docs": [{"_index": index, "_id": doc_id, "_source": self._fields} for index, doc_id in refs]}
        return [self._to_document(doc) for doc in self.client.mget(body=body)["docs"] if doc.get("found")]

    def any_index_exists(self) -> bool:
        return bool(self.client.indices.exists(index=self.index, params={"allow_no_indices": "false"}))

    @staticmethod
    def _to_document(hit: dict[str, Any]) -> SourceDocument:
        """A search hit or an mget document (which has no sort values)."""
        return SourceDocument(index=hit["_index"], doc_id=hit["_id"], seq_no=hit["_seq_no"],
                              primary_term=hit["_primary_term"], source=hit.get("_source") or {},
                              sort=hit.get("sort", []))


def _first_text(document: dict[str, Any], fields: list[str] | tuple[str, ...]) -> str | None:
    """The first of ``fields`` that holds non-blank text."""
    for name in fields:
        value = get_field(document, name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _check_shards(response: dict[str, Any]) -> None:
    shards = response.get("_shards") or {}
    if shards.get("failed"):
        reasons = sorted({
            f"{failure.get('index', '?')}: {(failure.get('reason') or {}).get('reason', failure.get('reason'))}"
            for failure in shards.get("failures", [])
        })
        raise SourceError(f"{shards['failed']} of {shards.get('total')} shards failed to answer: " + "; ".join(reasons)[:1000])


def epoch_seconds(value: Any) -> float | None:
    """An event time as seconds since the epoch: ISO 8601 text, or epoch seconds or milliseconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    return None


class SessionKeys:
    """Finds a document's session key: a regex over the message, else the first present field."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.pattern = re.compile(config.regex) if config.regex else None

    def __call__(self, document: dict[str, Any], message: Any) -> str:
        if self.pattern is not None and isinstance(message, str):
            match = self.pattern.search(message)
            if match:
                return match.group(1) if match.groups() else match.group(0)
        for name in self.config.fields:
            value = get_field(document, name)
            if value is None or isinstance(value, (dict, list)):
                continue
            key = str(value).strip()
            if key not in self.config.ignore_values:  # "" or "-" would merge unrelated hosts into one session
                return key
        return self.config.default_key
