"""The compiled build of the miner's hot path, used only while it matches its sources.

``scripts/build-native.py`` compiles :data:`COMPILED_MODULES` with mypyc (mypy's compiler of typed Python to C
extensions) into extension modules beside their sources, and records the sha256 of each source it compiled in
:data:`STAMP`. Python imports an extension module in preference to the ``.py`` beside it, so a source edited after
the build would be silently ignored; :func:`install` (called by ``enricher/__init__.py``, before any of them is
imported) makes Python load all of them from source instead when any source differs from the stamp, or when
``ENRICHER_NATIVE=0``. Compiled or not, the code and its results are the same (tests/unit/test_native.py).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

COMPILED_MODULES = ("enricher.caching", "enricher.preprocess", "enricher.templates.miner")
GROUP = "enricher.native_lib"  # their shared library: enricher/native_lib__mypyc.*.so
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
STAMP = Path(__file__).with_name("native.json")


def source_path(module: str) -> Path:
    return PACKAGE_ROOT.joinpath(*module.split(".")).with_suffix(".py")


def source_digests() -> dict[str, str]:
    return {module: hashlib.sha256(source_path(module).read_bytes()).hexdigest() for module in COMPILED_MODULES}


def fresh() -> bool:
    """Whether the compiled modules were built from today's sources."""
    try:
        return bool(json.loads(STAMP.read_text()) == source_digests())
    except (OSError, ValueError):  # not built (no stamp), or a stamp cut short
        return False


def usable() -> bool:
    """Whether the compiled modules may be imported: wanted (``ENRICHER_NATIVE`` is not 0) and :func:`fresh`."""
    return os.environ.get("ENRICHER_NATIVE", "1") != "0" and fresh()


class _FromSource(importlib.abc.MetaPathFinder):
    """Finds the compiled modules' ``.py`` sources, ahead of the extension modules beside them."""

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name not in COMPILED_MODULES:
            return None
        return importlib.util.spec_from_file_location(name, source_path(name))


def install() -> None:
    """Load the compiled modules from source unless :func:`usable` (idempotent)."""
    if not usable() and not any(isinstance(finder, _FromSource) for finder in sys.meta_path):
        sys.meta_path.insert(0, _FromSource())


def stale_warning() -> str | None:
    """What to tell an operator whose compiled build was left behind by its sources (else None)."""
    if not STAMP.is_file() or fresh():
        return None
    return ("the compiled template miner is older than its sources, so it runs from source (slower, same results): "
            "run scripts/setup.sh or scripts/build-native.py")


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was loaded from a compiled extension."""
    return not str(getattr(module, "__file__", "")).endswith(".py")


def build_name() -> str:
    """"compiled (mypyc)" or "pure Python": which build of the miner this process runs."""
    from enricher.templates import miner

    return "compiled (mypyc)" if is_compiled(miner) else "pure Python"
