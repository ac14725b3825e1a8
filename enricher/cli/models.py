"""``enricher models``: list, show, verify and promote versions in the model registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

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
    kinds = [kind] if kind else registry.kinds()
    pairs = []
    for name in kinds:
        versions = [version] if version else registry.versions(name)
        pairs += [(name, v) for v in versions]
    return pairs


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
        promoted = store.promoted_version(name) == version
        try:
            manifest = read_manifest(store.path(name, version))
            rows.append({"kind": name, "version": version, "promoted": promoted, "created": manifest.created_at,
                         "key_metric": _key_metric(manifest.metrics)})
        except ModelIntegrityError as exc:
            rows.append({"kind": name, "version": version, "promoted": promoted, "created": "-",
                         "key_metric": f"unreadable: {exc}"})
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
    from enricher.registry import ModelIntegrityError, ModelRegistry, read_manifest

    store = ModelRegistry(registry)
    chosen = version or store.promoted_version(kind)
    if chosen is None:
        typer.echo(f"error: {kind!r} has no promoted version in {registry}; name one", err=True)
        raise typer.Exit(2)
    try:
        manifest = read_manifest(store.path(kind, chosen))
    except ModelIntegrityError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    shown = {"path": str(store.path(kind, chosen)), "promoted": store.promoted_version(kind) == chosen,
             **manifest.model_dump()}
    typer.echo(json.dumps(shown, indent=2))


@app.command()
def verify(
    kind: Optional[str] = typer.Argument(None, help="Only this kind (default: every kind)."),
    version: Optional[str] = typer.Argument(None, help="Only this version (default: every version)."),
    registry: Path = RegistryOption,
    path: Optional[Path] = typer.Option(None, "--path", help="Verify this one model folder instead of a registry."),
) -> None:
    """Re-hash every file against its manifest; exit 1 naming the bad files if anything was altered."""
    from enricher.registry import ModelIntegrityError, ModelRegistry, verify_model_folder

    store = ModelRegistry(registry)
    folders = [path] if path else [store.path(k, v) for k, v in _selected(store, kind, version)]
    if not folders:
        typer.echo(f"error: no models to verify in {registry}", err=True)
        raise typer.Exit(2)
    failures = 0
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
    from enricher.registry import ModelIntegrityError, ModelRegistry

    store = ModelRegistry(registry)
    if not store.path(kind, version).is_dir():
        typer.echo(f"error: {store.path(kind, version)} does not exist", err=True)
        raise typer.Exit(2)
    previous = store.promoted_version(kind)
    try:
        store.promote(kind, version)
    except ModelIntegrityError as exc:
        typer.echo(f"error: not promoted: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"promoted {kind} {version} (was {previous or 'none'})")
