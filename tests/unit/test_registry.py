"""The versioned model registry and the ``enricher models`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enricher.cli.main import app
from enricher.registry import (
    ModelIntegrityError,
    ModelRegistry,
    read_manifest,
    verify_model_folder,
    write_manifest,
)


def _make_model(folder: Path, kind: str = "classifier", payload: bytes = b"weights", metric: float = 0.9) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(payload)
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "config.json").write_text('{"a": 1}')
    write_manifest(folder, kind=kind, metrics={"macro_f1": metric}, thresholds={"score": 0.5},
                   training_data={"lines": 10})
    return folder


def test_manifest_records_hashes_and_metadata(tmp_path: Path) -> None:
    folder = _make_model(tmp_path / "m")
    manifest = verify_model_folder(folder, expected_kind="classifier")
    assert set(manifest.files) == {"model.safetensors", "sub/config.json"}
    assert manifest.version == "m" and manifest.metrics == {"macro_f1": 0.9} and manifest.thresholds == {"score": 0.5}
    assert manifest.created_at and manifest.code_version


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda f: (f / "model.safetensors").write_bytes(b"weightz"), "model.safetensors does not match"),
        (lambda f: (f / "sub" / "config.json").unlink(), "sub/config.json is missing"),
        (lambda f: (f / "notes.txt").write_text("x"), "notes.txt is not listed"),
        (lambda f: (f / "evil.pkl").write_bytes(b"x"), "pickle"),
        (lambda f: (f / "manifest.json").write_text("{not json"), "invalid manifest"),
        (lambda f: (f / "manifest.json").unlink(), "no manifest.json"),
    ],
)
def test_verify_refuses_tampering(tmp_path: Path, tamper, message: str) -> None:  # noqa: ANN001
    folder = _make_model(tmp_path / "m")
    tamper(folder)
    with pytest.raises(ModelIntegrityError, match=message):
        verify_model_folder(folder)


def test_verify_refuses_wrong_kind(tmp_path: Path) -> None:
    folder = _make_model(tmp_path / "m", kind="sequence-lstm")
    with pytest.raises(ModelIntegrityError, match="expected 'classifier'"):
        verify_model_folder(folder, expected_kind="classifier")


def test_write_manifest_refuses_pickle(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(ModelIntegrityError, match="pickle"):
        write_manifest(folder, kind="classifier")


def test_versions_promotion_and_resolution(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    assert registry.kinds() == [] and registry.versions("classifier") == []
    first = _make_model(registry.new_version_dir("classifier"), metric=0.8)
    second = _make_model(registry.new_version_dir("classifier"), metric=0.9)
    for _ in range(9):
        registry.new_version_dir("classifier")
    assert first.name == "v1" and second.name == "v2"
    assert registry.versions("classifier")[:3] == ["v1", "v2", "v3"] and registry.versions("classifier")[-1] == "v11"
    with pytest.raises(ModelIntegrityError, match="no promoted version"):
        registry.resolve("classifier")
    registry.promote("classifier", "v2")
    folder, manifest = registry.resolve("classifier")
    assert folder == second and manifest.version == "v2"
    (second / "model.safetensors").write_bytes(b"changed")
    with pytest.raises(ModelIntegrityError):
        registry.resolve("classifier")
    with pytest.raises(ModelIntegrityError):
        registry.promote("classifier", "v2")  # a tampered version cannot be promoted


def test_import_folder_copies_and_reseals(tmp_path: Path) -> None:
    source = _make_model(tmp_path / "trained")
    registry = ModelRegistry(tmp_path / "registry")
    manifest = registry.import_folder("classifier", source)
    assert manifest.version == "v1" and manifest.metrics == {"macro_f1": 0.9}
    verify_model_folder(registry.path("classifier", "v1"), expected_kind="classifier")


def test_models_cli_list_show_verify_promote(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    _make_model(registry.new_version_dir("classifier"), metric=0.81)
    _make_model(registry.new_version_dir("classifier"), metric=0.92)
    runner = CliRunner()
    root = ["--registry", str(tmp_path)]

    result = runner.invoke(app, ["models", "promote", "classifier", "v2", *root])
    assert result.exit_code == 0 and "promoted classifier v2" in result.output
    result = runner.invoke(app, ["models", "list", *root, "--json"])
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["version"], r["promoted"], r["key_metric"]) for r in rows] == \
        [("v1", False, "macro_f1=0.81"), ("v2", True, "macro_f1=0.92")]
    table = runner.invoke(app, ["models", "list", *root]).output
    assert "KEY METRIC" in table and "macro_f1=0.92" in table
    shown = json.loads(runner.invoke(app, ["models", "show", "classifier", *root]).output)
    assert shown["version"] == "v2" and shown["promoted"] is True

    result = runner.invoke(app, ["models", "verify", *root])
    assert result.exit_code == 0 and result.output.count("OK") == 2
    (registry.path("classifier", "v1") / "model.safetensors").write_bytes(b"tampered")
    result = runner.invoke(app, ["models", "verify", *root])
    assert result.exit_code == 1
    assert "model.safetensors does not match" in result.output and "v1" in result.output
    result = runner.invoke(app, ["models", "promote", "classifier", "v1", *root])
    assert result.exit_code == 1 and "not promoted" in result.output
    assert registry.promoted_version("classifier") == "v2"
    result = runner.invoke(app, ["models", "verify", "--path", str(registry.path("classifier", "v2"))])
    assert result.exit_code == 0
    assert read_manifest(registry.path("classifier", "v2")).kind == "classifier"
