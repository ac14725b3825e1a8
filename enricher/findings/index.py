"""The findings index: a versioned mapping installed with the others, and idempotent writes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opensearchpy import OpenSearch, RequestError, helpers

from enricher.resources import load_mapping

if TYPE_CHECKING:
    from enricher.cluster.mappings import InstallReport
    from enricher.config import Settings

FINDINGS_MAPPING_FILE = "findings-v1.json"


def ensure_findings_index(client: OpenSearch, settings: Settings, report: InstallReport | None = None) -> bool:
    """Create the findings index, or add the fields of a newer mapping version to it; True if it changed."""
    index = settings.findings.index
    spec = load_mapping(FINDINGS_MAPPING_FILE)
    mapping = {"_meta": {"findings_mapping_version": spec["version"], "managed_by": "log-enricher"},
               "dynamic": True, "properties": spec["properties"]}
    changed = False
    if not client.indices.exists(index=index):
        try:
            client.indices.create(index=index, body={"settings": spec["settings"], "mappings": mapping})
            changed = True
        except RequestError as exc:
            if "resource_already_exists" not in str(exc):
                raise
    else:
        current = client.indices.get_mapping(index=index)
        meta = next(iter(current.values()))["mappings"].get("_meta", {})
        if meta.get("findings_mapping_version", 0) < spec["version"]:
            client.indices.put_mapping(index=index, body=mapping)
            changed = True
    if report is not None:
        report.note(f"index {index}", changed)
    return changed


def write_findings(client: OpenSearch, settings: Settings, documents: list[dict[str, Any]]) -> int:
    """Ensure the findings index, then index every document under its deterministic ``_id`` (a re-run overwrites)."""
    ensure_findings_index(client, settings)
    actions = ({"_index": settings.findings.index, "_id": doc["_id"],
                "_source": {k: v for k, v in doc.items() if k != "_id"}} for doc in documents)
    written, _ = helpers.bulk(client, actions, max_retries=3)
    return written
