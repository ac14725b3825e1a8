"""Rendering synthetic sessions (template ids from ``VaeDetector.sample_sessions``) as log lines.

Each ``<*>`` of a template gets a made-up value from the caller's seeded RNG: a number, a short hex id
or an IPv4 address. The values mean nothing; they only make the lines look like logs, so that a
pipeline fed with them (template mining, parsing) sees variables where the real logs had them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

WILDCARD = "<*>"
_WILDCARD = re.compile(re.escape(WILDCARD))


class TemplateRecord(BaseModel):
    """One line of a templates file: ``{"id", "template"}`` (or ``template_id`` as ``templates mine`` writes)."""

    id: str
    template: str

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> "TemplateRecord":
        key = row.get("id", row.get("template_id"))
        return cls(id=str(key) if key is not None else "", template=row.get("template", ""))


class GeneratedEvent(BaseModel):
    session: int
    event: int
    template_id: str
    message: str


def load_templates(path: Path) -> dict[str, str]:
    """Template id -> template text, from JSON Lines of ``{id, template}`` or one JSON object ``{id: text}``.

    Later lines win when an id repeats (``templates mine`` writes one line per input log line).
    """
    text = path.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and not ({"id", "template_id"} & whole.keys()):
        return {str(key): str(value) for key, value in whole.items()}
    templates: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = TemplateRecord.from_json(json.loads(line))
        except (json.JSONDecodeError, ValidationError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: not a {{id, template}} JSON object ({exc})") from exc
        templates[record.id] = record.template
    return templates


def sample_value(rng: np.random.Generator) -> str:
    kind = rng.integers(3)
    if kind == 0:
        return str(int(rng.integers(0, 100_000)))
    if kind == 1:
        return f"{int(rng.integers(0, 16**8)):08x}"
    return ".".join(str(int(part)) for part in rng.integers(1, 255, size=4))


def render_template(template: str, rng: np.random.Generator) -> str:
    return _WILDCARD.sub(lambda _: sample_value(rng), template)


def render_sessions(
    sessions: Sequence[Sequence[str]], templates: dict[str, str], rng: np.random.Generator
) -> Iterator[GeneratedEvent]:
    """One event per template id of every session, in order; a template missing from ``templates`` is an error."""
    missing = sorted({key for session in sessions for key in session} - templates.keys())
    if missing:
        raise KeyError(f"no template text for ids {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
    for number, session in enumerate(sessions):
        for index, key in enumerate(session):
            yield GeneratedEvent(
                session=number, event=index, template_id=key, message=render_template(templates[key], rng)
            )
