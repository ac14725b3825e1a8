#!/usr/bin/env python3
"""Compile the miner's hot path (enricher.native.COMPILED_MODULES) with mypyc, in place, and stamp the build.

Run by scripts/setup.sh; needs mypy (the dev extra) and a C compiler. Optional: without it, or when it fails, the
same modules run as pure Python (slower; same results). Usage: scripts/build-native.py [--clean]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from enricher import native  # noqa: E402


def clean() -> None:
    """Remove the extension modules and the stamp: the sources run as they are."""
    native.STAMP.unlink(missing_ok=True)
    for built in native.PACKAGE_ROOT.joinpath("enricher").rglob("*.cpython-*.so"):  # (also of modules no longer listed)
        built.unlink()


def build() -> None:
    from mypyc.build import mypycify
    from setuptools import setup

    clean()
    digests = native.source_digests()  # of the sources as compiled (an edit during the build makes the stamp stale)
    sources = [str(native.source_path(module).relative_to(ROOT)) for module in native.COMPILED_MODULES]
    with tempfile.TemporaryDirectory(prefix="enricher-native-") as work:
        extensions = mypycify(sources, separate=[(sources, native.GROUP)], target_dir=work, opt_level="3")
        setup(name="enricher-native", ext_modules=extensions, script_name="build-native",
              script_args=["-q", "build_ext", "--inplace", "--build-temp", work, "--build-lib", work])
    native.STAMP.write_text(json.dumps(digests, indent=1) + "\n")


if __name__ == "__main__":
    os.chdir(ROOT)  # mypyc names modules by their paths from here
    clean() if sys.argv[1:] == ["--clean"] else build()
