"""The enricher's state in OpenSearch: checkpoints, stage state (miner, session windows), known templates.

Everything the service needs to resume after a restart lives in the cluster, not on the worker's disk, so
any worker can pick up where another stopped.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from opensearchpy import NotFoundError, OpenSearch, helpers
from pydantic import BaseModel, Field


class Checkpoint(BaseModel):
    """Where a source stands: the newest event time fully written, and running totals."""

    last_timestamp: datetime | None = None
    last_sort: list[Any] = Field(default_factory=list)
    updated_at: datetime | None = None
    documents_enriched: int = 0
    documents_failed: int = 0
    passes: int = 0
    last_pass: dict[str, Any] = Field(default_factory=dict)


def source_state_id(index_patterns: list[str], pipeline_version: str) -> str:
    """One state document per (index patterns, pipeline version)."""
    key = ",".join(sorted(index_patterns)) + "@" + pipeline_version
    return "source-" + hashlib.sha1(key.encode()).hexdigest()[:16]


class StateStore:
    def __init__(self, client: OpenSearch, state_index: str, templates_index: str) -> None:
        self.client = client
        self.state_index = state_index
        self.templates_index = templates_index

    def load(self, state_id: str) -> dict[str, Any] | None:
        try:
            doc = self.client.get(index=self.state_index, id=state_id)
        except NotFoundError:
            return None
        return doc["_source"].get("payload")

    def save(self, state_id: str, kind: str, payload: dict[str, Any]) -> None:
        self.client.index(
            index=self.state_index,
            id=state_id,
            body={"kind": kind, "updated_at": datetime.now(timezone.utc).isoformat(), "payload": payload},
        )

    def register_templates(self, templates: dict[str, str], source: str) -> set[str]:
        """Record templates by id with ``create``; return the ids that nobody had recorded before.

        ``create`` fails with 409 for an id that exists, so across any number of workers exactly one
        sees a template as novel.
        """
        if not templates:
            return set()
        now = datetime.now(timezone.utc).isoformat()
        actions = (
            {"_op_type": "create", "_index": self.templates_index, "_id": template_id,
             "template": text, "first_seen": now, "source": source}
            for template_id, text in templates.items()
        )
        created = set()
        for ok, item in helpers.streaming_bulk(self.client, actions, raise_on_error=False, max_retries=5):
            result = item["create"]
            if ok:
                created.add(result["_id"])
            elif result.get("status") != 409:
                raise RuntimeError(f"could not record template {result['_id']}: {result.get('error')}")
        return created

    def count_templates(self) -> int:
        try:
            return int(self.client.count(index=self.templates_index)["count"])
        except NotFoundError:
            return 0
