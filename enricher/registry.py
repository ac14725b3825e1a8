"""Versioned, verifiable model registry.

Every trained model is a folder ``<root>/<kind>/<version>/`` holding its weights (safetensors), its
config/tokenizer files (JSON/text) and a ``manifest.json`` that records what it is, how it was made,
how well it did, the thresholds it was trained with, and the sha256 of every file. Loading verifies
every hash and refuses pickle-based weight files outright, so a tampered or half-copied model is never
run. ``<root>/<kind>/PROMOTED`` names the version the service loads for that kind.

The manifest itself is sealed: ``manifest.sha256`` beside it holds its hash, checked on every read, so an
edited threshold or metric is caught like an edited weight file. A hash guards against accidents and
careless edits, not against someone who can rewrite both files: with ``ENRICHER_REGISTRY_KEY`` set, the
seal also carries an HMAC-SHA256 under that key (``manifest.hmac``), which only the key's holder can make,
and every read then requires it. Kinds and versions are plain names (``v<digits>``), so neither a
``PROMOTED`` file nor a command argument can point outside the registry.

The layout follows Hugging Face's model folders (``save_pretrained``/``from_pretrained``): a model
class writes its own files into a folder, then :func:`write_manifest` seals the folder.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from enricher import __version__

MANIFEST_FILE = "manifest.json"
SEAL_FILE = "manifest.sha256"
HMAC_FILE = "manifest.hmac"
KEY_VARIABLE = "ENRICHER_REGISTRY_KEY"
PROMOTED_FILE = "PROMOTED"
_REGISTRY_FILES = (MANIFEST_FILE, SEAL_FILE, HMAC_FILE)
# Formats that can execute code when loaded. Their presence in a model folder is refused.
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
_VERSION_PATTERN = re.compile(r"^v(\d+)$")
_KIND_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class ModelIntegrityError(RuntimeError):
    """A model cannot be loaded. Catch the subclasses to tell why; never parse the message."""


class ModelNotFound(ModelIntegrityError):
    """No such model: no promoted version, no such version, or a name that is not a registry name."""


class ModelTampered(ModelIntegrityError):
    """A model is there but does not match its seal (files, manifest, PROMOTED); it must not be loaded."""


def registry_key() -> bytes | None:
    """The operator's HMAC key for manifests (``ENRICHER_REGISTRY_KEY``), if set."""
    return os.environ.get(KEY_VARIABLE, "").encode() or None


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
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _model_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.relative_to(folder).as_posix() not in _REGISTRY_FILES)


def _refuse_unsafe_files(folder: Path) -> None:
    unsafe = [p.name for p in _model_files(folder) if p.suffix.lower() in UNSAFE_SUFFIXES]
    if unsafe:
        raise ModelTampered(f"{folder}: refusing pickle-based files {unsafe}; weights must be safetensors")


def write_manifest(folder: str | Path, *, kind: str, version: str | None = None,
                   training_data: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
                   thresholds: dict[str, float] | None = None, config: dict[str, Any] | None = None) -> Manifest:
    """Seal a model folder: hash every file in it and write ``manifest.json``."""
    folder = Path(folder)
    _refuse_unsafe_files(folder)
    manifest = Manifest(
        kind=kind, version=version or folder.name, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        code_version=code_version(), training_data=training_data or {}, metrics=metrics or {},
        thresholds=thresholds or {}, config=config or {},
        files={p.relative_to(folder).as_posix(): sha256_file(p) for p in _model_files(folder)},
    )
    (folder / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2) + "\n")
    seal_manifest(folder)
    return manifest


def seal_manifest(folder: str | Path, key: bytes | None = None) -> None:
    """Write the seal of ``folder``'s manifest.json as it is now (and its HMAC with a key)."""
    folder = Path(folder)
    content = (folder / MANIFEST_FILE).read_bytes()
    (folder / SEAL_FILE).write_text(f"{hashlib.sha256(content).hexdigest()}  {MANIFEST_FILE}\n")
    key = key if key is not None else registry_key()
    if key:
        (folder / HMAC_FILE).write_text(hmac.new(key, content, hashlib.sha256).hexdigest() + "\n")
    else:
        (folder / HMAC_FILE).unlink(missing_ok=True)  # a signature of an older manifest would be stale


def reseal_model_folder(folder: str | Path, key: bytes | None = None) -> Manifest:
    """Seal an existing manifest as it is (the operator vouches for it), after checking every file's hash.

    For model folders sealed before manifests were, or to sign trusted models with a new registry key.
    """
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ModelNotFound(f"{folder}: no {MANIFEST_FILE}; not a model folder")
    try:
        Manifest.model_validate_json(path.read_bytes())  # refuse to seal a manifest that is not one
    except ValueError as exc:
        raise ModelTampered(f"{path}: invalid manifest: {exc}") from exc
    seal_manifest(folder, key)
    try:
        return verify_model_folder(folder, key=key)
    except ModelTampered:
        for name in (SEAL_FILE, HMAC_FILE):  # never leave a seal on files that do not match
            (folder / name).unlink(missing_ok=True)
        raise


def _check_seal(folder: Path, content: bytes, key: bytes | None) -> None:
    seal = folder / SEAL_FILE
    if not seal.is_file():
        raise ModelTampered(f"{folder}: refusing to load: {MANIFEST_FILE} is not sealed (no {SEAL_FILE})")
    recorded = seal.read_text().split()[:1]
    if recorded != [hashlib.sha256(content).hexdigest()]:
        raise ModelTampered(f"{folder}: refusing to load: {MANIFEST_FILE} does not match its seal ({SEAL_FILE}); "
                            "it was edited after the model was sealed")
    if key:
        signature = folder / HMAC_FILE
        expected = hmac.new(key, content, hashlib.sha256).hexdigest()
        if not signature.is_file() or not hmac.compare_digest(signature.read_text().strip(), expected):
            raise ModelTampered(f"{folder}: refusing to load: {MANIFEST_FILE} is not signed with the registry "
                                f"key ({KEY_VARIABLE}); sign it with `enricher models seal` if you trust it")


def read_manifest(folder: str | Path, key: bytes | None = None) -> Manifest:
    """The manifest of ``folder``, after checking its seal (and its HMAC when a registry key is set)."""
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise ModelNotFound(f"{folder}: no such model folder")
    if not path.is_file():
        raise ModelTampered(f"{folder}: refusing to load: no {MANIFEST_FILE}; not a (complete) model folder")
    content = path.read_bytes()
    _check_seal(folder, content, key if key is not None else registry_key())
    try:
        return Manifest.model_validate_json(content)
    except ValueError as exc:
        raise ModelTampered(f"{path}: refusing to load: invalid manifest: {exc}") from exc


def verify_model_folder(folder: str | Path, expected_kind: str | None = None, key: bytes | None = None) -> Manifest:
    """Check a model folder against its sealed manifest; raise ModelTampered (or ModelNotFound) on any mismatch."""
    folder = Path(folder)
    manifest = read_manifest(folder, key)
    if expected_kind is not None and manifest.kind != expected_kind:
        raise ModelTampered(f"{folder}: is a {manifest.kind!r} model, expected {expected_kind!r}")
    _refuse_unsafe_files(folder)
    problems: list[str] = []
    for relative, expected in manifest.files.items():
        path = folder / relative
        if not path.is_file():
            problems.append(f"{relative} is missing")
        elif sha256_file(path) != expected:
            problems.append(f"{relative} does not match its sha256 in the manifest")
    present = [path.relative_to(folder).as_posix() for path in _model_files(folder)]
    problems += [f"{relative} is not listed in the manifest" for relative in present if relative not in manifest.files]
    if problems:
        raise ModelTampered(f"{folder}: refusing to load: " + "; ".join(problems))
    return manifest


def check_name(kind: str, version: str | None = None) -> None:
    """Refuse kinds and versions that are not plain registry names (``../x``, ``/abs``, ``v1/..``)."""
    if not _KIND_PATTERN.match(kind):
        raise ModelNotFound(f"{kind!r} is not a model kind (lower-case letters, digits, - and _)")
    if version is not None and not _VERSION_PATTERN.match(version):
        raise ModelNotFound(f"{version!r} is not a model version (v1, v2, ...)")


class ModelRegistry:
    """A folder of model kinds, each with numbered versions (v1, v2, ...) and a promoted one."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def kinds(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _KIND_PATTERN.match(p.name))

    def versions(self, kind: str) -> list[str]:
        check_name(kind)
        kind_dir = self.root / kind
        if not kind_dir.is_dir():
            return []
        found = [p.name for p in kind_dir.iterdir() if p.is_dir() and _VERSION_PATTERN.match(p.name)]
        return sorted(found, key=lambda v: int(v[1:]))

    def path(self, kind: str, version: str) -> Path:
        """The folder of ``kind`` ``version``; ModelNotFound for names that are not registry names."""
        check_name(kind, version)
        return self.root / kind / version

    def new_version_dir(self, kind: str) -> Path:
        """Create and return the folder for the next version of ``kind`` (not yet sealed)."""
        existing = self.versions(kind)
        number = int(existing[-1][1:]) + 1 if existing else 1
        folder = self.path(kind, f"v{number}")
        folder.mkdir(parents=True)
        return folder

    def promote(self, kind: str, version: str) -> Manifest:
        manifest = verify_model_folder(self.path(kind, version), expected_kind=kind)
        (self.root / kind / PROMOTED_FILE).write_text(version + "\n")
        return manifest

    def promoted_version(self, kind: str) -> str | None:
        """The version PROMOTED names; ModelTampered if it names anything but a version (e.g. ``../../x``)."""
        check_name(kind)
        marker = self.root / kind / PROMOTED_FILE
        if not marker.is_file():
            return None
        version = marker.read_text().strip()
        if version and not _VERSION_PATTERN.match(version):
            raise ModelTampered(f"{marker}: refusing to load: names {version[:80]!r}, not a version like v3")
        return version or None

    def resolve(self, kind: str, version: str | None = None) -> tuple[Path, Manifest]:
        """The verified folder of ``kind`` at ``version`` (default: the promoted one)."""
        version = version or self.promoted_version(kind)
        if version is None:
            raise ModelNotFound(f"{self.root}: no promoted version of {kind!r}")
        folder = self.path(kind, version)
        if not folder.is_dir():
            raise ModelNotFound(f"{folder}: no such model version")
        if not folder.resolve().is_relative_to(self.root.resolve()):
            raise ModelTampered(f"{folder}: refusing to load: it links outside the registry {self.root}")
        manifest = verify_model_folder(folder, expected_kind=kind)
        if manifest.version != version:
            raise ModelTampered(f"{folder}: refusing to load: its manifest says version {manifest.version!r}")
        return folder, manifest
