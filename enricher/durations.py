"""Durations as people write them: ``30s``, ``5m``, ``1h``, ``7d`` (or combined, ``1h30m``), ISO 8601
(``PT1H``), ``HH:MM:SS`` or a number of seconds. Every duration setting uses one of the annotated types
at the end, so each accepts the same spellings.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, TypeAdapter, ValidationError

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_COMPACT_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_PLAIN_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")
# pydantic's own parser covers ISO 8601 (PT1H, P7D) and HH:MM:SS.
_ISO_DURATION = TypeAdapter(timedelta)


def parse_duration(value: Any) -> timedelta:
    """``30s``, ``5m``, ``1h``, ``7d``, ``1h30m``, ISO 8601, ``HH:MM:SS`` or seconds -> a timedelta (never negative)."""
    if isinstance(value, timedelta):
        parsed = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = timedelta(seconds=value)
    elif isinstance(value, str):
        parsed = _parse_duration_text(value.strip().lower().replace(" ", ""))
    else:
        raise ValueError(f"{value!r} is not a duration")
    if parsed < timedelta(0):
        raise ValueError(f"{value!r}: a duration cannot be negative")
    return parsed


def _parse_duration_text(text: str) -> timedelta:
    if _PLAIN_SECONDS.match(text):
        return timedelta(seconds=float(text))
    if _COMPACT_DURATION.match(text):
        return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text)))
    try:
        return _ISO_DURATION.validate_python(text.upper() if text.startswith("p") else text)
    except ValidationError:
        raise ValueError(
            f"{text!r} is not a duration: write e.g. 30s, 5m, 1h, 7d, 1h30m, an ISO 8601 duration (PT1H) "
            "or a number of seconds"
        ) from None


def format_duration(value: timedelta) -> str:
    """The compact spelling parse_duration reads back: ``7d``, ``1h30m``, ``90s``, ``0.5s``."""
    seconds = value.total_seconds()
    if seconds != int(seconds) or seconds == 0:
        return f"{seconds:g}s"
    parts, rest = [], int(seconds)
    for unit in ("d", "h", "m", "s"):
        count, rest = divmod(rest, int(_UNIT_SECONDS[unit]))
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _opensearch_time(value: Any) -> str:
    # OpenSearch time units: whole seconds are exact enough for keep-alives.
    return f"{max(1, round(parse_duration(value).total_seconds()))}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, when_used="json")]
DurationSeconds = Annotated[float, BeforeValidator(lambda value: parse_duration(value).total_seconds())]
OpenSearchDuration = Annotated[str, BeforeValidator(_opensearch_time)]
