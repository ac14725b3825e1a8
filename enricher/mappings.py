"""Versioned mappings for the enriched fields and the enricher's own indices, installed idempotently.

``mappings/enrichment-v<N>.json`` holds the properties of the namespace object. They are installed as a
component template plus an index template for the source patterns (so new indices get them), and put on
every existing matching index (so indices made by other templates get them too). Installing twice changes
nothing; a conflicting existing mapping fails with the index and field named.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from opensearchpy import NotFoundError, OpenSearch, RequestError

from enricher.config import Settings
from enricher.findings.index import ensure_findings_index

MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "mappings"
ENRICHMENT_MAPPING_FILE = "enrichment-v1.json"
STATE_MAPPING_FILE = "state-v1.json"


class MappingConflictError(RuntimeError):
    """An existing index maps an enriched field with an incompatible type."""


@dataclass
class InstallReport:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def note(self, what: str, changed: bool) -> None:
        (self.changed if changed else self.unchanged).append(what)


@cache
def _load(name: str) -> dict[str, Any]:
    path = MAPPINGS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"mapping file {path} is missing (is the repository checkout complete?)")
    return json.loads(path.read_text())


def enrichment_mapping(namespace: str) -> dict[str, Any]:
    spec = _load(ENRICHMENT_MAPPING_FILE)
    return {
        "_meta": {"enricher_mapping_version": spec["version"]},
        "properties": {namespace: {"properties": spec["properties"]}},
    }


def component_template_name(namespace: str) -> str:
    return f"enricher-{namespace}"


def index_template_name(namespace: str, index_patterns: list[str]) -> str:
    """One index template per set of source patterns, so several configurations can share a cluster."""
    patterns_key = hashlib.sha1(",".join(sorted(index_patterns)).encode()).hexdigest()[:8]
    return f"enricher-{namespace}-{patterns_key}"


def install_mappings(client: OpenSearch, settings: Settings) -> InstallReport:
    """Install or upgrade every mapping the enricher needs; safe to run any number of times."""
    report = InstallReport()
    namespace = settings.sink.namespace
    mapping = enrichment_mapping(namespace)
    _install_component_template(client, component_template_name(namespace), mapping, report)
    _install_index_template(client, settings, report)
    put_mapping_on_existing(client, settings, report)
    _ensure_own_indices(client, settings, report)
    ensure_findings_index(client, settings, report)
    return report


def _install_component_template(client: OpenSearch, name: str, mapping: dict[str, Any], report: InstallReport) -> None:
    wanted = {"template": {"mappings": mapping}, "version": mapping["_meta"]["enricher_mapping_version"]}
    try:
        existing = client.cluster.get_component_template(name=name)["component_templates"][0]["component_template"]
    except NotFoundError:
        existing = None
    changed = existing is None or existing.get("template", {}).get("mappings") != mapping
    if changed:
        client.cluster.put_component_template(name=name, body=wanted)
    report.note(f"component template {name}", changed)


def _install_index_template(client: OpenSearch, settings: Settings, report: InstallReport) -> None:
    namespace = settings.sink.namespace
    name = index_template_name(namespace, settings.source.index_patterns)
    wanted = {
        "index_patterns": settings.source.index_patterns,
        "composed_of": [component_template_name(namespace)],
        # Low priority: an index template of the user's own for the same pattern wins, and the
        # mapping is then put on its indices directly (put_mapping_on_existing).
        "priority": 1,
        "_meta": {"managed_by": "log-enricher"},
    }
    try:
        existing = client.indices.get_index_template(name=name)["index_templates"][0]["index_template"]
    except NotFoundError:
        existing = None
    changed = existing is None or any(existing.get(key) != value for key, value in wanted.items())
    if changed:
        try:
            client.indices.put_index_template(name=name, body=wanted)
        except RequestError as exc:
            raise MappingConflictError(
                f"index template {name} for {settings.source.index_patterns} could not be installed: {_reason(exc)}"
            ) from exc
    report.note(f"index template {name}", changed)


def put_mapping_on_existing(client: OpenSearch, settings: Settings, report: InstallReport | None = None) -> list[str]:
    """Put the enrichment mapping on every existing source index that lacks it; return those updated."""
    namespace = settings.sink.namespace
    mapping = enrichment_mapping(namespace)
    probe = f"{namespace}.pipeline_version"
    try:
        current = client.indices.get_field_mapping(
            index=",".join(settings.source.index_patterns), fields=f"{namespace}.*",
            params={"ignore_unavailable": "true", "allow_no_indices": "true"},
        )
    except NotFoundError:
        return []
    wanted_fields = _leaf_types(mapping["properties"])
    updated = []
    for index, body in sorted(current.items()):
        have = {name: next(iter(spec["mapping"].values())).get("type") for name, spec in body.get("mappings", {}).items()}
        conflicts = [f for f, t in wanted_fields.items() if f in have and have[f] != t]
        if conflicts:
            name = conflicts[0]
            raise MappingConflictError(
                f"index {index}: field {name} is mapped as {have[name]!r} but the enricher needs "
                f"{wanted_fields[name]!r}; rename the namespace (sink.namespace) or reindex"
            )
        changed = any(f not in have for f in wanted_fields) or probe not in have
        if changed:
            try:
                client.indices.put_mapping(index=index, body={"properties": mapping["properties"]})
            except RequestError as exc:
                raise MappingConflictError(f"index {index}: {_reason(exc)}") from exc
            updated.append(index)
        if report is not None:
            report.note(f"mapping of {index}", changed)
    return updated


def _ensure_own_indices(client: OpenSearch, settings: Settings, report: InstallReport) -> None:
    spec = _load(STATE_MAPPING_FILE)
    for index, key in ((settings.state_index, "state"), (settings.templates_index, "templates")):
        exists = client.indices.exists(index=index)
        if not exists:
            try:
                client.indices.create(index=index, body=spec[key])
            except RequestError as exc:
                if "resource_already_exists" not in str(exc):
                    raise
        report.note(f"index {index}", not exists)


def _leaf_types(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    leaves: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            leaves.update(_leaf_types(spec["properties"], path + "."))
        else:
            leaves[path] = spec["type"]
    return leaves


def _reason(exc: RequestError) -> str:
    info = exc.info if isinstance(exc.info, dict) else {}
    reason = info.get("error", {}).get("reason") if isinstance(info.get("error"), dict) else None
    text = reason or str(exc)
    match = re.search(r"mapper \[([^\]]+)\]", text)
    return f"field {match.group(1)}: {text}" if match else text
