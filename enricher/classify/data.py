"""Reading labelled or unlabelled log texts from JSON Lines files and OpenSearch indices."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enricher.cluster.source import get_field


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a clear error names the first bad line."""
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON: {exc}") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            yield number, record


@dataclass(slots=True)
class LabelledTexts:
    texts: list[str]
    labels: list[str]
    skipped: int  # records without a text or a label


def _collect(records: Iterator[dict[str, Any]], text_field: str, label_field: str) -> LabelledTexts:
    texts: list[str] = []
    labels: list[str] = []
    skipped = 0
    for record in records:
        text, label = get_field(record, text_field), get_field(record, label_field)
        if text is None or label is None or str(label).strip() == "":
            skipped += 1
            continue
        texts.append(str(text))
        labels.append(str(label))
    return LabelledTexts(texts, labels, skipped)


def read_labelled_jsonl(path: str | Path, text_field: str, label_field: str) -> LabelledTexts:
    return _collect((record for _, record in iter_jsonl(path)), text_field, label_field)


def read_labelled_index(
    client: Any,
    index_pattern: str,
    text_field: str,
    label_field: str,
    *,
    time_field: str = "@timestamp",
    since: str | None = None,
    until: str | None = None,
    max_documents: int | None = None,
) -> LabelledTexts:
    """Labelled texts from an OpenSearch index pattern, optionally within a time range (scroll)."""
    from opensearchpy import helpers

    filters: list[dict[str, Any]] = [{"exists": {"field": text_field}}, {"exists": {"field": label_field}}]
    if since or until:
        bounds = {key: value for key, value in (("gte", since), ("lt", until)) if value}
        filters.append({"range": {time_field: bounds}})
    query = {"query": {"bool": {"filter": filters}}, "_source": [text_field, label_field]}

    def sources() -> Iterator[dict[str, Any]]:
        hits = helpers.scan(client, index=index_pattern, query=query, size=1000, preserve_order=False)
        for count, hit in enumerate(hits):
            if max_documents is not None and count >= max_documents:
                return
            yield hit.get("_source", {})

    return _collect(sources(), text_field, label_field)
