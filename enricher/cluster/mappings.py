"""Versioned mappings for the enriched fields and the enricher's own indices, installed idempotently.

``enricher/resources/mappings/enrichment-v<N>.json`` (also reachable as ``mappings/`` in a checkout) holds
the properties of the namespace object. The enricher adds its fields without taking over anyone's index
settings:

* a component template ``enricher-<namespace>`` holds the mapping; operators may compose it into their
  own index templates, so new indices are born with it;
* the mapping is put on every existing matching index, at install and at the start of every pass, so
  indices created by any template (or none) get it before they are written to;
* an index template of the enricher's own is installed only when ``mappings.index_template`` is on:
  OpenSearch applies just one index template (the highest priority) to a new index, so one of the
  enricher's would replace an operator's settings and mappings for the same pattern. Its priority is
  chosen so that several enricher configurations with overlapping patterns can coexist.

An index whose mapping conflicts (e.g. a legacy ``enrichment`` field of another type) is reported with
its reason and skipped; it never stops the others.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import NotFoundError, OpenSearch, RequestError

from enricher.config import Settings
from enricher.resources import load_mapping

ENRICHMENT_MAPPING_FILE = "enrichment-v2.json"
STATE_MAPPING_FILE = "state-v1.json"
MANAGED_BY = "log-enricher"
# Index templates of this design carry it in _meta; those without it came from the design that took
# over operators' templates, and are removed on upgrade.
TEMPLATE_DESIGN = 2


class MappingConflictError(RuntimeError):
    """A template the enricher needs could not be installed (another template refuses it)."""


@dataclass
class InstallReport:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)  # index -> reason; the service skips them
    notes: list[str] = field(default_factory=list)

    def note(self, what: str, changed: bool) -> None:
        (self.changed if changed else self.unchanged).append(what)


def enrichment_mapping(namespace: str) -> dict[str, Any]:
    spec = load_mapping(ENRICHMENT_MAPPING_FILE)
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
    """Install or upgrade every mapping the enricher needs; safe to run any number of times.

    Per-index conflicts are reported in ``report.conflicts``, not raised; MappingConflictError only when
    an opted-in index template is refused.
    """
    report = InstallReport()
    namespace = settings.sink.namespace
    _install_component_template(client, component_template_name(namespace), enrichment_mapping(namespace), report)
    _install_or_remove_index_template(client, settings, report)
    put_mapping_on_existing(client, settings, report)
    _ensure_own_indices(client, settings, report)
    return report


def _install_component_template(client: OpenSearch, name: str, mapping: dict[str, Any], report: InstallReport) -> None:
    wanted = {"template": {"mappings": mapping}, "version": mapping["_meta"]["enricher_mapping_version"],
              "_meta": {"managed_by": MANAGED_BY}}
    try:
        existing = client.cluster.get_component_template(name=name)["component_templates"][0]["component_template"]
    except NotFoundError:
        existing = None
    changed = existing is None or existing.get("template", {}).get("mappings") != mapping
    if changed:
        client.cluster.put_component_template(name=name, body=wanted)
    report.note(f"component template {name}", changed)


def _is_ours(template: dict[str, Any] | None) -> bool:
    return ((template or {}).get("_meta") or {}).get("managed_by") == MANAGED_BY


def _of_earlier_design(template: dict[str, Any] | None) -> bool:
    meta = (template or {}).get("_meta") or {}
    return meta.get("managed_by") == MANAGED_BY and meta.get("design") != TEMPLATE_DESIGN


def _install_or_remove_index_template(client: OpenSearch, settings: Settings, report: InstallReport) -> None:
    namespace = settings.sink.namespace
    name = index_template_name(namespace, settings.source.index_patterns)
    try:
        existing = client.indices.get_index_template(name=name)["index_templates"][0]["index_template"]
    except NotFoundError:
        existing = None
    if _of_earlier_design(existing):
        # The earlier design's template outranked operators' templates for the same patterns.
        client.indices.delete_index_template(name=name)
        report.removed.append(f"index template {name} (earlier design: it overrode other templates)")
        existing = None
    _note_other_old_templates(client, namespace, name, report)
    if not settings.mappings.index_template:
        if _is_ours(existing):
            client.indices.delete_index_template(name=name)
            report.removed.append(f"index template {name} (mappings.index_template is off)")
        return
    priority = settings.mappings.index_template_priority
    if priority is None:
        priority = existing["priority"] if _is_ours(existing) else _free_priority(client, name)
    wanted = {
        "index_patterns": settings.source.index_patterns,
        "composed_of": [component_template_name(namespace)],
        "priority": priority,
        "_meta": {"managed_by": MANAGED_BY, "design": TEMPLATE_DESIGN},
    }
    changed = existing is None or any(existing.get(key) != value for key, value in wanted.items())
    if changed:
        try:
            client.indices.put_index_template(name=name, body=wanted)
        except RequestError as exc:
            raise MappingConflictError(
                f"index template {name} for {settings.source.index_patterns} (priority {priority}) could not be "
                f"installed: {_reason(exc)}; set mappings.index_template_priority, or turn mappings.index_template "
                "off and compose the component template into your own template"
            ) from exc
    report.note(f"index template {name} (priority {priority})", changed)


def _free_priority(client: OpenSearch, name: str) -> int:
    """The lowest priority from 1 up that no other index template uses: two templates with overlapping
    patterns and equal priority are refused by OpenSearch, whoever made them."""
    templates = client.indices.get_index_template().get("index_templates", [])
    used = {t["index_template"].get("priority", 0) for t in templates if t["name"] != name}
    return next(p for p in range(1, len(used) + 2) if p not in used)


def _note_other_old_templates(client: OpenSearch, namespace: str, current: str, report: InstallReport) -> None:
    """Earlier-design templates of other pattern sets may be other configurations': named, not deleted."""
    try:
        templates = client.indices.get_index_template(name=f"enricher-{namespace}-*").get("index_templates", [])
    except NotFoundError:
        return
    for template in templates:
        body = template["index_template"]
        if template["name"] != current and _of_earlier_design(body):
            report.notes.append(
                f"index template {template['name']} for {body.get('index_patterns')} is of the earlier design and "
                "overrides other templates for those patterns; run `enricher mappings install` with that "
                "configuration to replace it, or delete it if no configuration uses it"
            )


def put_mapping_on_existing(client: OpenSearch, settings: Settings,
                            report: InstallReport | None = None) -> InstallReport:
    """Put the enrichment mapping on every existing source index that lacks it (noted as ``mapping of <index>``).

    Never raises for one index: an index whose mapping conflicts lands in ``conflicts`` with the reason,
    and the others are updated.
    """
    namespace = settings.sink.namespace
    mapping = enrichment_mapping(namespace)
    report = report or InstallReport()
    try:
        current = client.indices.get_field_mapping(
            index=",".join(settings.source.index_patterns), fields=f"{namespace},{namespace}.*",
            params={"ignore_unavailable": "true", "allow_no_indices": "true"},
        )
    except NotFoundError:
        return report
    wanted_fields = _leaf_types(mapping["properties"])
    for index, body in sorted(current.items()):
        have = {name: next(iter(spec["mapping"].values())).get("type")
                for name, spec in body.get("mappings", {}).items()}
        if conflict := _conflict(namespace, have, wanted_fields):
            report.conflicts[index] = conflict
        elif wanted_fields.keys() <= have.keys():
            report.note(f"mapping of {index}", changed=False)
        else:
            try:
                client.indices.put_mapping(index=index, body={"properties": mapping["properties"]})
                report.note(f"mapping of {index}", changed=True)
            except RequestError as exc:
                report.conflicts[index] = _reason(exc)
    return report


def _conflict(namespace: str, have: dict[str, str], wanted: dict[str, str]) -> str | None:
    if namespace in have:  # a leaf field where the enricher needs an object
        return (f"field {namespace} is mapped as {have[namespace]!r} but the enricher needs an object there; "
                "use another sink.namespace or reindex")
    for name, wanted_type in wanted.items():
        if name in have and have[name] != wanted_type:
            return (f"field {name} is mapped as {have[name]!r} but the enricher needs {wanted_type!r}; "
                    "use another sink.namespace or reindex")
    return None


def _ensure_own_indices(client: OpenSearch, settings: Settings, report: InstallReport) -> None:
    spec = load_mapping(STATE_MAPPING_FILE)
    for index, key in ((settings.state_index, "state"), (settings.templates_index, "templates")):
        exists = client.indices.exists(index=index)
        if not exists:
            try:
                client.indices.create(index=index, body=spec[key])
            except RequestError as exc:
                if "resource_already_exists" not in str(exc):
                    raise
        else:  # an index of an earlier release: fields added since are put on it (additive, so idempotent)
            client.indices.put_mapping(index=index, body={"properties": spec[key]["mappings"]["properties"]})
        report.note(f"index {index}", not exists)


def _leaf_types(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    leaves: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            leaves.update(_leaf_types(spec["properties"], path + "."))
        else:
            leaves[path] = spec["type"]
            for sub, sub_spec in spec.get("fields", {}).items():  # multi-fields, e.g. template.text.search
                leaves[f"{path}.{sub}"] = sub_spec["type"]
    return leaves


def _reason(exc: RequestError) -> str:
    info = exc.info if isinstance(exc.info, dict) else {}
    reason = info.get("error", {}).get("reason") if isinstance(info.get("error"), dict) else None
    text = reason or str(exc)
    match = re.search(r"mapper \[([^\]]+)\]", text)
    return f"field {match.group(1)}: {text}" if match else text
