"""The enricher's state in OpenSearch: checkpoints, totals, stage state, and the known templates.

Everything the service needs to resume after a restart lives in the cluster, not on the worker's disk, so
any worker can pick up where another stopped. Three documents per source configuration (``state_id``):

- ``<state_id>``: the checkpoint (small; saved after every written batch);
- ``<state_id>-totals``: running totals, added to with optimistic concurrency, so workers sharing a
  configuration add up instead of overwriting each other;
- ``<state_id>-pipeline``: the miner's and the anomaly stages' state (large; saved every
  ``state_save_interval`` and at the end of a pass, only when no written batch is outstanding).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import chain
from typing import Any

from opensearchpy import ConflictError, NotFoundError, OpenSearch, helpers
from pydantic import BaseModel, Field

from enricher.caching import BoundedDict
from enricher.retry import TRANSIENT_STATUSES, RetryPolicy

log = logging.getLogger(__name__)

TOTALS = ("enriched", "errors", "write_failures")
MAX_TOUCHED = 200_000


class Checkpoint(BaseModel):
    """Where a source stands.

    ``last_timestamp`` is a low-water mark: every document older than it was written (or is covered by
    ``retry_from``). It never passes a document whose write failed, and never the pass's own start time,
    so one document dated in the future cannot make everything newer look done.
    """

    last_timestamp: datetime | None = None
    retry_from: datetime | None = None  # the oldest document the last pass could not write, if any
    last_catchup: datetime | None = None  # when a pass last swept the whole lookback window
    updated_at: datetime | None = None
    passes: int = 0
    last_pass: dict[str, Any] = Field(default_factory=dict)

    def since(self, *, late_arrival: timedelta, lookback_start: datetime | None) -> datetime | None:
        """Lower time bound of the next (narrow) sweep."""
        if self.last_timestamp is None:
            return lookback_start
        since = self.last_timestamp - late_arrival
        if self.retry_from is not None:
            since = min(since, self.retry_from)
        return since if lookback_start is None else max(since, lookback_start)

    def catchup_due(self, now: datetime, interval: timedelta) -> bool:
        """Whether this pass should also sweep the whole lookback window (documents that arrived later
        than ``late_arrival`` behind the checkpoint)."""
        return self.last_timestamp is not None and (self.last_catchup is None or now - self.last_catchup >= interval)


@dataclass
class PassProgress:
    """Moves a checkpoint as a pass writes its batches, oldest first."""

    checkpoint: Checkpoint
    started_at: datetime
    oldest_unwritten: datetime | None = None

    def batch_done(self, newest_read: datetime | None, unwritten: Iterable[datetime | None]) -> None:
        """A batch was written: ``newest_read`` is its last (newest) document's time; ``unwritten`` the
        times of its documents left pending (they bound the checkpoint until a later pass writes them)."""
        self.oldest_unwritten = min((t for t in (self.oldest_unwritten, *unwritten) if t is not None), default=None)
        if newest_read is None:
            return
        candidate = min(t for t in (newest_read, self.started_at, self.oldest_unwritten) if t is not None)
        current = self.checkpoint.last_timestamp
        if current is None or candidate > current:
            self.checkpoint.last_timestamp = candidate

    def finish(self, *, swept_from_retry_point: bool) -> None:
        """End of a pass: the failures of this pass replace the earlier ones if it swept past them."""
        if swept_from_retry_point or self.checkpoint.retry_from is None:
            self.checkpoint.retry_from = self.oldest_unwritten
        elif self.oldest_unwritten is not None:
            self.checkpoint.retry_from = min(self.checkpoint.retry_from, self.oldest_unwritten)


def source_state_id(index_patterns: list[str], pipeline_version: str) -> str:
    """One state per (index patterns, pipeline version)."""
    key = ",".join(sorted(index_patterns)) + "@" + pipeline_version
    return "source-" + hashlib.sha1(key.encode()).hexdigest()[:16]


class StateStore:
    def __init__(self, client: OpenSearch, state_index: str) -> None:
        self.client = client
        self.state_index = state_index

    def _get(self, doc_id: str) -> dict[str, Any] | None:
        try:
            return self.client.get(index=self.state_index, id=doc_id)
        except NotFoundError:
            return None

    def _put(self, doc_id: str, kind: str, payload: dict[str, Any], **occ: int) -> None:
        body = {"kind": kind, "updated_at": datetime.now(timezone.utc).isoformat(), "payload": payload}
        self.client.index(index=self.state_index, id=doc_id, body=body, params=occ)

    def load_checkpoint(self, state_id: str) -> Checkpoint:
        doc = self._get(state_id)
        payload = (doc or {}).get("_source", {}).get("payload") or {}
        return Checkpoint.model_validate(payload.get("checkpoint") or {})

    def save_checkpoint(self, state_id: str, checkpoint: Checkpoint, *, index_patterns: list[str],
                        pipeline_version: str) -> None:
        checkpoint.updated_at = datetime.now(timezone.utc)
        self._put(state_id, "source", {"index_patterns": index_patterns, "pipeline_version": pipeline_version,
                                       "checkpoint": checkpoint.model_dump(mode="json")})

    def load_pipeline(self, state_id: str) -> dict[str, Any] | None:
        doc = self._get(f"{state_id}-pipeline")
        if doc is not None:
            return doc["_source"].get("payload")
        legacy = self._get(state_id)  # before the split, one document held the checkpoint and the pipeline
        return (legacy or {}).get("_source", {}).get("payload", {}).get("pipeline")

    def save_pipeline(self, state_id: str, pipeline_state: dict[str, Any]) -> None:
        self._put(f"{state_id}-pipeline", "pipeline", pipeline_state)

    def load_totals(self, state_id: str) -> dict[str, int]:
        doc = self._get(f"{state_id}-totals")
        saved = (doc or {}).get("_source", {}).get("payload") or {}
        return {name: int(saved.get(name, 0)) for name in TOTALS}

    def add_totals(self, state_id: str, added: dict[str, int], attempts: int = 20) -> None:
        """Add to the running totals: read, add, write back only if nobody wrote in between."""
        if not any(added.values()):
            return
        doc_id = f"{state_id}-totals"
        for _ in range(attempts):
            doc = self._get(doc_id)
            current = (doc or {}).get("_source", {}).get("payload") or {}
            updated = {name: int(current.get(name, 0)) + int(added.get(name, 0)) for name in TOTALS}
            occ = ({"if_seq_no": doc["_seq_no"], "if_primary_term": doc["_primary_term"]} if doc
                   else {"op_type": "create"})
            try:
                self._put(doc_id, "totals", updated, **occ)
                return
            except ConflictError:
                continue  # another worker added first: read its sum and add again
        log.warning("could not add to the totals after %d attempts (heavy contention)", attempts,
                    extra={"added": added})


class TemplateStore:
    """The known templates, one record per template id, for novelty across workers and restarts.

    A template is novel on exactly one document: the one its record names as ``first_doc``. ``create``
    fails with 409 for an id that exists, so one worker's document wins. A record starts unconfirmed and
    is confirmed once that document is written with the template. If the write was lost (a crash between
    the two), the document is still pending: whoever enriches it next finds it named in the record and
    marks it novel; and if it now gets another template (a restarted miner may word it differently), the
    orphaned record is dropped by :meth:`reconcile`, so every record ends with exactly one novel document.
    """

    def __init__(self, client: OpenSearch, index: str, policy: RetryPolicy) -> None:
        self.client = client
        self.index = index
        self.policy = policy
        # template id -> the day its last_seen was last written (a day's worth is plenty)
        self._touched: BoundedDict[str, str] = BoundedDict(MAX_TOUCHED)

    def register(self, templates: dict[str, tuple[str, tuple[str, str]]], source: str) -> dict[str, tuple[str, str]]:
        """Record ``{template_id: (text, candidate first document)}``; return each id's recorded first
        document (the candidate where the record is new, the earlier one where it existed).

        Ids the cluster kept refusing are left out (logged): their documents are not novel, and the next
        batch that has them tries again, so the template is still novel on exactly one document.
        """
        if not templates:
            return {}
        now = datetime.now(timezone.utc).isoformat()
        pending = dict(templates)
        first_docs: dict[str, tuple[str, str]] = {}
        existing: list[str] = []
        for delay in chain(self.policy.delays(), [None]):
            retry = {}
            actions = ({"_op_type": "create", "_index": self.index, "_id": template_id, "template": text,
                        "first_seen": now, "last_seen": now[:10], "source": source, "confirmed": False,
                        "first_doc": {"index": index, "id": doc_id}}
                       for template_id, (text, (index, doc_id)) in pending.items())
            for ok, item in helpers.streaming_bulk(self.client, actions, max_retries=0, raise_on_error=False,
                                                   raise_on_exception=True):
                result = item["create"]
                template_id, status = result["_id"], int(result.get("status", 500))
                if ok:
                    first_docs[template_id] = pending[template_id][1]
                elif status == 409:
                    existing.append(template_id)
                elif status in TRANSIENT_STATUSES:
                    retry[template_id] = pending[template_id]
                else:
                    raise RuntimeError(f"could not record template {template_id}: {result.get('error')}")
            if not retry:
                break
            if delay is None:
                log.warning("OpenSearch kept refusing %d template records; a later batch records them", len(retry),
                            extra={"templates": sorted(retry)[:10]})
                break
            log.warning("OpenSearch pushed back on %d template records; retrying in %.1f s", len(retry), delay)
            time.sleep(delay)
            pending = retry
        first_docs.update(self.first_docs_of(existing, live=True))
        return first_docs

    def first_docs_of(self, template_ids: list[str], *, live: bool = False) -> dict[str, tuple[str, str]]:
        """The recorded first documents of existing records (a record without one has none: ("", "")).

        ``live``: the miner issues these ids as live templates, so a record still marking one as an alias (a
        template evicted, then made anew) is no longer one.
        """
        if not template_ids:
            return {}
        response = self.client.mget(index=self.index, body={"ids": template_ids},
                                    params={"_source_includes": "first_doc,canonical_id"})
        found, revived = {}, []
        for doc in response["docs"]:
            source = doc.get("_source") or {}
            if doc.get("found"):
                first = source.get("first_doc") or {}
                found[doc["_id"]] = (first.get("index", ""), first.get("id", ""))
            if live and source.get("canonical_id"):
                revived.append(doc["_id"])
        self._bulk_best_effort(({"_op_type": "update", "_index": self.index, "_id": tid,  # none: no request
                                 "doc": {"canonical_id": None, "rekeyed": True}} for tid in revived),
                               "revive template records")
        return found

    # -- aliases: one id per event type ---------------------------------------------------------------
    def record_aliases(self, aliases: dict[str, str]) -> bool:
        """Record ``{old id: current id}``: the old id resolves to the current one in this index, and the
        documents written with it are queued for re-keying (:meth:`pending_aliases`). Records that named an
        old id as their current one are pointed at its current id too, so a lookup is always one hop.
        Returns False where the cluster refused (the caller keeps them and tries again)."""
        now = datetime.now(timezone.utc).isoformat()
        updates = dict(aliases)
        chained = self.client.search(
            index=self.index, params={"ignore_unavailable": "true"},
            body={"size": 10_000, "query": {"terms": {"canonical_id": list(aliases)}}, "_source": ["canonical_id"]})
        for hit in chained["hits"]["hits"]:
            updates.setdefault(hit["_id"], aliases[hit["_source"]["canonical_id"]])
        actions = ({"_op_type": "update", "_index": self.index, "_id": old,
                    "doc": {"canonical_id": new, "rekeyed": False},
                    "upsert": {"canonical_id": new, "rekeyed": False, "confirmed": True, "first_seen": now,
                               "last_seen": now[:10]}}
                   for old, new in updates.items())
        return self._bulk_best_effort(actions, "record template aliases")

    def pending_aliases(self, limit: int = 100) -> dict[str, tuple[str, int, int]]:
        """Aliases whose documents still carry the old id: ``{old id: (current id, seq_no, primary_term)}``."""
        self.client.indices.refresh(index=self.index, params={"ignore_unavailable": "true"})  # this pass's records
        response = self.client.search(
            index=self.index, params={"ignore_unavailable": "true"},
            body={"size": limit, "seq_no_primary_term": True, "_source": ["canonical_id"],
                  "query": {"bool": {"filter": [{"term": {"rekeyed": False}}, {"exists": {"field": "canonical_id"}}]}}})
        return {hit["_id"]: (hit["_source"]["canonical_id"], hit["_seq_no"], hit["_primary_term"])
                for hit in response["hits"]["hits"]}

    def mark_rekeyed(self, old_id: str, seq_no: int, primary_term: int) -> None:
        """The documents of ``old_id`` carry its current id; a record re-pointed meanwhile stays queued."""
        try:
            self.client.update(index=self.index, id=old_id, body={"doc": {"rekeyed": True}},
                               params={"if_seq_no": seq_no, "if_primary_term": primary_term})
        except (ConflictError, NotFoundError):
            pass  # re-pointed at a newer id (queued again) or evicted: nothing to settle

    def _bulk_best_effort(self, actions: Iterable[dict[str, Any]], what: str) -> bool:
        _, failed = helpers.bulk(self.client, actions, max_retries=0, raise_on_error=False)
        if failed:
            log.warning("could not %s (%d refused); a later pass tries again", what, len(failed),
                        extra={"error": str(failed[0])[:300]})
        return not failed

    def confirm(self, template_ids: Iterable[str]) -> None:
        """Their first documents are written: the records are settled (best effort; see reconcile)."""
        actions = ({"_op_type": "update", "_index": self.index, "_id": tid, "doc": {"confirmed": True}}
                   for tid in set(template_ids))
        helpers.bulk(self.client, actions, max_retries=0, raise_on_error=False)  # no actions: no request

    def reconcile(self, read_template_ids: Callable[[list[tuple[str, str]]], dict[tuple[str, str], str | None]],
                  limit: int = 1000) -> tuple[int, int]:
        """Settle unconfirmed records by looking at their first documents: confirm a record whose document
        carries its template, drop one whose document was enriched with another template (or is gone).
        ``read_template_ids`` maps document refs to the template id they are enriched with now (None:
        not yet enriched by this pipeline; missing: deleted). Returns (confirmed, dropped)."""
        response = self.client.search(
            index=self.index, body={"size": limit, "query": {"term": {"confirmed": False}}, "_source": ["first_doc"]},
            params={"ignore_unavailable": "true"})
        records = {hit["_id"]: ((hit["_source"].get("first_doc") or {}).get("index", ""),
                                (hit["_source"].get("first_doc") or {}).get("id", ""))
                   for hit in response["hits"]["hits"]}
        if not records:
            return 0, 0
        current = read_template_ids(list(set(records.values())))
        confirmed = [tid for tid, ref in records.items() if ref in current and current[ref] == tid]
        dropped = [tid for tid, ref in records.items()
                   if ref not in current or (current[ref] is not None and current[ref] != tid)]
        self.confirm(confirmed)
        if dropped:
            actions = ({"_op_type": "delete", "_index": self.index, "_id": tid} for tid in dropped)
            helpers.bulk(self.client, actions, max_retries=0, raise_on_error=False)
            log.info("dropped %d template records whose first document carries another template", len(dropped))
        return len(confirmed), len(dropped)

    def touch(self, template_ids: Iterable[str], today: str) -> None:
        """Record that these templates were seen ``today`` (an ISO date); each once a day at most.

        Best effort: a touch that fails only means the template may be evicted a day early, and if it
        comes back after that it is novel again.
        """
        fresh = [tid for tid in set(template_ids) if self._touched.get(tid) != today]
        if not fresh:
            return
        actions = ({"_op_type": "update", "_index": self.index, "_id": tid, "doc": {"last_seen": today}}
                   for tid in fresh)
        try:
            for ok, item in helpers.streaming_bulk(self.client, actions, max_retries=0, raise_on_error=False):
                if ok:
                    self._touched.put(item["update"]["_id"], today)
        except Exception as error:  # noqa: BLE001 -- see above: never worth failing a pass for
            log.warning("could not record when templates were last seen: %s", error)

    def evict_unseen(self, retention: timedelta, now: datetime) -> int:
        """Delete the records of templates not seen within ``retention``; return how many."""
        cutoff = (now - retention).date().isoformat()
        # Search and bulk-delete rather than _delete_by_query: that lives in the reindex module, which a
        # minimal distribution does not have.
        stale = helpers.scan(self.client, index=self.index, query={"query": {"range": {"last_seen": {"lt": cutoff}}}},
                             _source=False, params={"ignore_unavailable": "true"})
        actions = ({"_op_type": "delete", "_index": self.index, "_id": hit["_id"]} for hit in stale)
        deleted = sum(ok for ok, _ in helpers.streaming_bulk(self.client, actions, raise_on_error=False, max_retries=0))
        if deleted:
            log.info("evicted %d templates not seen since %s", deleted, cutoff)
        return deleted

    def count(self, *, aliases: bool = False, pending: bool = False) -> int:
        """Templates recorded (default), or alias records (``aliases``), or those still to re-key (``pending``)."""
        is_alias = {"exists": {"field": "canonical_id"}}
        if pending:
            query = {"bool": {"filter": [is_alias, {"term": {"rekeyed": False}}]}}
        elif aliases:
            query = {"bool": {"filter": [is_alias]}}
        else:
            query = {"bool": {"must_not": [is_alias]}}
        try:
            return int(self.client.count(index=self.index, body={"query": query})["count"])
        except NotFoundError:
            return 0
