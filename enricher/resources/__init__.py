"""Data files that ship inside the package (mappings, saved objects, monitors); read with importlib.resources."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load_mapping(name: str) -> dict[str, Any]:
    """A versioned mapping file of ``resources/mappings/`` (e.g. ``enrichment-v2.json``), parsed."""
    return json.loads(resources.files(__name__).joinpath("mappings", name).read_text("utf-8"))
