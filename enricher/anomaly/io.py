"""Reading and writing the DeepLog session format (one session per line, whitespace-separated keys)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO


def read_sessions(path: str | Path) -> list[list[str]]:
    """Every line is one session; an empty line is an empty session (kept, so output lines align)."""
    with Path(path).open(encoding="utf-8") as handle:
        return [line.split() for line in handle]


def write_scores(results: Iterable[tuple[float, bool]], handle: IO[str]) -> None:
    """Write one ``{"score", "is_anomaly"}`` JSON object per session."""
    handle.writelines(json.dumps({"score": round(float(score), 6), "is_anomaly": bool(bad)}) + "\n"
                      for score, bad in results)
