"""Versioned, verifiable model registry.

Every trained model is a folder ``<root>/<kind>/<version>/`` holding its weights (safetensors), its
config/tokenizer files (JSON/text) and a ``manifest.json`` that records what it is, how it was made,
how well it did, the thresholds it was trained with, and the sha256 of every file. Loading verifies
every hash and refuses pickle-based weight files outright, so a tampered or half-copied model is never
run. ``<root>/<kind>/PROMOTED`` names the version the service loads for that kind.

The layout follows Hugging Face's model folders (``save_pretrained``/``from_pretrained``): a model
class writes its own files into a folder, then :func:`write_manifest` seals the folder.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from enricher import __version__

MANIFEST_FILE = "manifest.json"
PROMOTED_FILE = "PROMOTED"
# Formats that can execute code when loaded. Their presence in a model folder is refused.
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
_VERSION_PATTERN = re.compile(r"^v(\d+)$")


class ModelIntegrityError(RuntimeError):
    """A model folder is missing, tampered with, or not the kind that was asked for."""


class Manifest(BaseModel):
    kind: str
    version: str
    created_at: str
    code_version: str
    training_data: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict, description="relative path -> sha256")


def code_version() -> str:
    """Package version plus the git commit when run from a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _model_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)


def _refuse_unsafe_files(folder: Path) -> None:
    unsafe = [p.name for p in _model_files(folder) if p.suffix.lower() in UNSAFE_SUFFIXES]
    if unsafe:
        raise ModelIntegrityError(
            f"{folder}: refusing pickle-based files {unsafe}; weights must be safetensors"
        )


def write_manifest(
    folder: str | Path,
    *,
    kind: str,
    version: str | None = None,
    training_data: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    thresholds: dict[str, float] | None = None,
    config: dict[str, Any] | None = None,
) -> Manifest:
    """Seal a model folder: hash every file in it and write ``manifest.json``."""
    folder = Path(folder)
    _refuse_unsafe_files(folder)
    manifest = Manifest(
        kind=kind,
        version=version or folder.name,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        code_version=code_version(),
        training_data=training_data or {},
        metrics=metrics or {},
        thresholds=thresholds or {},
        config=config or {},
        files={p.relative_to(folder).as_posix(): sha256_file(p) for p in _model_files(folder)},
    )
    (folder / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def read_manifest(folder: str | Path) -> Manifest:
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise ModelIntegrityError(f"{folder}: no {MANIFEST_FILE}; not a model folder")
    try:
        return Manifest.model_validate_json(path.read_text())
    except ValueError as exc:
        raise ModelIntegrityError(f"{path}: invalid manifest: {exc}") from exc


def verify_model_folder(folder: str | Path, expected_kind: str | None = None) -> Manifest:
    """Check a model folder against its manifest; raise ModelIntegrityError on any mismatch."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if expected_kind is not None and manifest.kind != expected_kind:
        raise ModelIntegrityError(
            f"{folder}: is a {manifest.kind!r} model, expected {expected_kind!r}"
        )
    _refuse_unsafe_files(folder)
    problems: list[str] = []
    for relative, expected in manifest.files.items():
        path = folder / relative
        if not path.is_file():
            problems.append(f"{relative} is missing")
        elif sha256_file(path) != expected:
            problems.append(f"{relative} does not match its sha256 in the manifest")
    listed = set(manifest.files)
    for path in _model_files(folder):
        relative = path.relative_to(folder).as_posix()
        if relative not in listed:
            problems.append(f"{relative} is not listed in the manifest")
    if problems:
        raise ModelIntegrityError(f"{folder}: refusing to load: " + "; ".join(problems))
    return manifest


class ModelRegistry:
    """A folder of model kinds, each with numbered versions (v1, v2, ...) and a promoted one."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def kinds(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def versions(self, kind: str) -> list[str]:
        kind_dir = self.root / kind
        if not kind_dir.is_dir():
            return []
        found = [p.name for p in kind_dir.iterdir() if p.is_dir() and _VERSION_PATTERN.match(p.name)]
        return sorted(found, key=lambda v: int(v[1:]))

    def path(self, kind: str, version: str) -> Path:
        return self.root / kind / version

    def new_version_dir(self, kind: str) -> Path:
        """Create and return the folder for the next version of ``kind`` (not yet sealed)."""
        existing = self.versions(kind)
        number = int(existing[-1][1:]) + 1 if existing else 1
        folder = self.path(kind, f"v{number}")
        folder.mkdir(parents=True)
        return folder

    def import_folder(self, kind: str, source: str | Path) -> Manifest:
        """Copy a sealed model folder in as the next version of ``kind`` and re-seal it there."""
        source_manifest = verify_model_folder(source, expected_kind=kind)
        target = self.new_version_dir(kind)
        shutil.copytree(source, target, dirs_exist_ok=True)
        return write_manifest(
            target,
            kind=kind,
            training_data=source_manifest.training_data,
            metrics=source_manifest.metrics,
            thresholds=source_manifest.thresholds,
            config=source_manifest.config,
        )

    def promote(self, kind: str, version: str) -> Manifest:
        manifest = verify_model_folder(self.path(kind, version), expected_kind=kind)
        (self.root / kind / PROMOTED_FILE).write_text(version + "\n")
        return manifest

    def promoted_version(self, kind: str) -> str | None:
        marker = self.root / kind / PROMOTED_FILE
        if marker.is_file():
            return marker.read_text().strip() or None
        return None

    def resolve(self, kind: str, version: str | None = None) -> tuple[Path, Manifest]:
        """The verified folder of ``kind`` at ``version`` (default: the promoted one)."""
        version = version or self.promoted_version(kind)
        if version is None:
            raise ModelIntegrityError(f"{self.root}: no promoted version of {kind!r}")
        folder = self.path(kind, version)
        if not folder.is_dir():
            raise ModelIntegrityError(f"{folder}: no such model version")
        return folder, verify_model_folder(folder, expected_kind=kind)
