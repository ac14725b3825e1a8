"""``enricher models``: list, show, verify and promote versions in the model registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from enricher.cli.common import fail

app = typer.Typer(help="The versioned model registry: list, show, verify and promote models.", no_args_is_help=True)

RegistryOption = typer.Option(Path("models"), "--registry", help="Registry folder (models/<kind>/<version>/).")
# Shown in `list`, in this order of preference, when a manifest has it.
KEY_METRICS = ("macro_f1", "f1", "auc", "accuracy", "precision", "recall")


def _key_metric(metrics: dict[str, Any]) -> str:
    for name in KEY_METRICS:
        value = metrics.get(name)
        if isinstance(value, (int, float)):
            return f"{name}={value:.4g}"
    for name, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{name}={value:.4g}"
    return "-"


def _selected(registry, kind: Optional[str], version: Optional[str]) -> list[tuple[str, str]]:  # noqa: ANN001
    from enricher.registry import ModelNotFound, check_name

    try:
        if kind:
            check_name(kind, version)
    except ModelNotFound as exc:
        raise fail(str(exc)) from None
    kinds = [kind] if kind else registry.kinds()
    return [(name, v) for name in kinds for v in ([version] if version else registry.versions(name))]


def _promoted(store, kind: str) -> Optional[str]:  # noqa: ANN001
    """The promoted version, or None with the reason on stderr when PROMOTED is not a plain version."""
    from enricher.registry import ModelIntegrityError

    try:
        return store.promoted_version(kind)
    except ModelIntegrityError as exc:
        typer.echo(f"FAILED  {exc}", err=True)
        return None


@app.command("list")
def list_models(
    registry: Path = RegistryOption,
    kind: Optional[str] = typer.Option(None, "--kind", help="Only this kind (e.g. classifier)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON Lines instead of a table."),
) -> None:
    """Every model version: kind, version, promoted, created, key metric (manifests are not re-hashed here)."""
    from enricher.registry import ModelIntegrityError, ModelRegistry, read_manifest

    store = ModelRegistry(registry)
    rows = []
    for name, version in _selected(store, kind, None):
        row = {"kind": name, "version": version, "promoted": _promoted(store, name) == version}
        try:
            manifest = read_manifest(store.path(name, version))
            rows.append({**row, "created": manifest.created_at, "key_metric": _key_metric(manifest.metrics)})
        except ModelIntegrityError as exc:
            rows.append({**row, "created": "-", "key_metric": f"unreadable: {exc}"})
    if json_output:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    if not rows:
        typer.echo(f"no models in {registry}")
        return
    header = ("KIND", "VERSION", "PROMOTED", "CREATED", "KEY METRIC")
    table = [header] + [(r["kind"], r["version"], "*" if r["promoted"] else "", r["created"], r["key_metric"])
                        for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        typer.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


@app.command()
def show(
    kind: str = typer.Argument(..., help="Model kind, e.g. classifier."),
    version: Optional[str] = typer.Argument(None, help="Version, e.g. v1 (default: the promoted one)."),
    registry: Path = RegistryOption,
) -> None:
    """Print a model's manifest (JSON), with its folder and whether it is promoted."""
    from enricher.registry import ModelNotFound, ModelRegistry, ModelTampered, read_manifest

    store = ModelRegistry(registry)
    try:
        chosen = version or store.promoted_version(kind)
        if chosen is None:
            raise ModelNotFound(f"{kind!r} has no promoted version in {registry}; name one")
        manifest = read_manifest(store.path(kind, chosen))
    except ModelNotFound as exc:
        raise fail(str(exc)) from None
    except ModelTampered as exc:
        raise fail(str(exc), 1) from None
    shown = {"path": str(store.path(kind, chosen)), "promoted": _promoted(store, kind) == chosen,
             **manifest.model_dump()}
    typer.echo(json.dumps(shown, indent=2))


@app.command()
def verify(
    kind: Optional[str] = typer.Argument(None, help="Only this kind (default: every kind)."),
    version: Optional[str] = typer.Argument(None, help="Only this version (default: every version)."),
    registry: Path = RegistryOption,
    path: Optional[Path] = typer.Option(None, "--path", help="Verify this one model folder instead of a registry."),
) -> None:
    """Check every manifest's seal and re-hash every file; exit 1 naming what was altered.

    Also checks that each kind's PROMOTED names a plain version of the registry.
    """
    from enricher.registry import ModelIntegrityError, ModelRegistry, verify_model_folder

    store = ModelRegistry(registry)
    selected = [] if path else _selected(store, kind, version)
    folders = [path] if path else [store.path(k, v) for k, v in selected]
    if not folders:
        raise fail(f"no models to verify in {registry}")
    failures = 0
    for name in sorted({k for k, _ in selected}):
        try:
            store.promoted_version(name)
        except ModelIntegrityError as exc:
            failures += 1
            typer.echo(f"FAILED  {exc}", err=True)
    for folder in folders:
        try:
            manifest = verify_model_folder(folder)
            typer.echo(f"OK      {folder} ({manifest.kind} {manifest.version}, {len(manifest.files)} files)")
        except ModelIntegrityError as exc:
            failures += 1
            typer.echo(f"FAILED  {exc}", err=True)
    if failures:
        typer.echo(f"{failures} of {len(folders)} model folders failed verification; they will not be loaded",
                   err=True)
        raise typer.Exit(1)


@app.command()
def promote(
    kind: str = typer.Argument(..., help="Model kind, e.g. classifier."),
    version: str = typer.Argument(..., help="Version to promote, e.g. v2."),
    registry: Path = RegistryOption,
) -> None:
    """Verify a version, then make it the one the service loads for its kind."""
    from enricher.registry import ModelIntegrityError, ModelNotFound, ModelRegistry

    store = ModelRegistry(registry)
    try:
        folder = store.path(kind, version)
    except ModelNotFound as exc:
        raise fail(str(exc)) from None
    if not folder.is_dir():
        raise fail(f"{folder} does not exist")
    previous = _promoted(store, kind)
    try:
        store.promote(kind, version)
    except ModelIntegrityError as exc:
        raise fail(f"not promoted: {exc}", 1) from exc
    typer.echo(f"promoted {kind} {version} (was {previous or 'none'})")


@app.command()
def seal(
    kind: Optional[str] = typer.Argument(None, help="Only this kind (default: every kind)."),
    version: Optional[str] = typer.Argument(None, help="Only this version (default: every version)."),
    registry: Path = RegistryOption,
) -> None:
    """Seal manifests as they stand (and sign them when ENRICHER_REGISTRY_KEY is set).

    Only for manifests you trust: models made before manifests were sealed (a registry from an earlier
    version), or trusted models to sign with a new registry key. Every file must still match its hash.
    """
    from enricher.registry import ModelIntegrityError, ModelRegistry, registry_key, reseal_model_folder

    store = ModelRegistry(registry)
    selected = _selected(store, kind, version)
    if not selected:
        raise fail(f"no models to seal in {registry}")
    signed = " and signed with the registry key" if registry_key() else ""
    failures = 0
    for name, chosen in selected:
        try:
            manifest = reseal_model_folder(store.path(name, chosen))
            typer.echo(f"sealed{signed}: {name} {chosen} ({len(manifest.files)} files)")
        except ModelIntegrityError as exc:
            failures += 1
            typer.echo(f"FAILED  not sealed: {exc}", err=True)
    if failures:
        raise typer.Exit(1)
