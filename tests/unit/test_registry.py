"""The versioned model registry and the ``enricher models`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enricher.cli.main import app
from enricher.registry import (
    SEAL_FILE,
    ModelIntegrityError,
    ModelNotFound,
    ModelRegistry,
    ModelTampered,
    read_manifest,
    reseal_model_folder,
    sha256_file,
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
        (lambda f: (f / "manifest.json").write_text("{not json"), "manifest.json does not match its seal"),
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


def test_an_edited_manifest_is_refused(tmp_path: Path) -> None:
    folder = _make_model(tmp_path / "m")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["thresholds"]["score"] = 99.0  # a looser threshold, every file hash still right
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    with pytest.raises(ModelTampered, match="does not match its seal"):
        verify_model_folder(folder)
    with pytest.raises(ModelTampered):
        read_manifest(folder)


def test_a_manifest_without_its_seal_is_refused(tmp_path: Path) -> None:
    folder = _make_model(tmp_path / "m")
    (folder / SEAL_FILE).unlink()
    with pytest.raises(ModelTampered, match="not sealed"):
        verify_model_folder(folder)


def test_errors_are_typed_and_still_integrity_errors(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    with pytest.raises(ModelNotFound) as missing:
        registry.resolve("classifier")
    folder = _make_model(registry.new_version_dir("classifier"))
    registry.promote("classifier", "v1")
    (folder / "model.safetensors").write_bytes(b"changed")
    with pytest.raises(ModelTampered) as tampered:
        registry.resolve("classifier")
    assert isinstance(missing.value, ModelIntegrityError) and isinstance(tampered.value, ModelIntegrityError)
    assert not isinstance(missing.value, ModelTampered) and not isinstance(tampered.value, ModelNotFound)
    with pytest.raises(ModelNotFound):
        registry.resolve("classifier", "v7")


@pytest.mark.parametrize("promoted", ["../../x", "/etc", "v1/../../x", "..", "v1/"])
def test_promoted_cannot_point_outside_the_registry(tmp_path: Path, promoted: str) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    _make_model(registry.new_version_dir("classifier"))
    outside = _make_model(tmp_path / "x", kind="classifier")  # a sealed model outside the registry
    assert outside.is_dir()
    (registry.root / "classifier" / "PROMOTED").write_text(promoted + "\n")
    with pytest.raises(ModelTampered, match="not a version"):
        registry.resolve("classifier")


@pytest.mark.parametrize(("kind", "version"), [("classifier", "../v1"), ("../models", "v1"), ("classifier", "/tmp")])
def test_names_that_leave_the_registry_are_refused(tmp_path: Path, kind: str, version: str) -> None:
    registry = ModelRegistry(tmp_path)
    with pytest.raises(ModelNotFound):
        registry.path(kind, version)
    with pytest.raises(ModelNotFound):
        registry.promote(kind, version)


def test_a_version_linked_outside_the_registry_is_refused(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    outside = _make_model(tmp_path / "v1")
    (registry.root / "classifier").mkdir(parents=True)
    (registry.root / "classifier" / "v1").symlink_to(outside)
    (registry.root / "classifier" / "PROMOTED").write_text("v1\n")
    with pytest.raises(ModelTampered, match="outside the registry"):
        registry.resolve("classifier")


def test_with_a_registry_key_only_signed_manifests_load(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    unsigned = _make_model(tmp_path / "unsigned")
    monkeypatch.setenv("ENRICHER_REGISTRY_KEY", "operator-secret")
    with pytest.raises(ModelTampered, match="not signed"):
        verify_model_folder(unsigned)
    signed = _make_model(tmp_path / "signed")  # sealed while the key is set: signed
    other = _make_model(tmp_path / "other")
    verify_model_folder(signed)
    # Someone without the key edits the manifest and recomputes its hash: the signature gives it away.
    manifest = json.loads((signed / "manifest.json").read_text())
    manifest["thresholds"]["score"] = 99.0
    (signed / "manifest.json").write_text(json.dumps(manifest))
    (signed / SEAL_FILE).write_text(f"{sha256_file(signed / 'manifest.json')}  manifest.json\n")
    with pytest.raises(ModelTampered, match="not signed"):
        verify_model_folder(signed)
    monkeypatch.setenv("ENRICHER_REGISTRY_KEY", "another-key")
    with pytest.raises(ModelTampered, match="not signed"):
        verify_model_folder(other)


def test_reseal_signs_a_trusted_model_but_never_altered_files(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    folder = _make_model(tmp_path / "m")
    monkeypatch.setenv("ENRICHER_REGISTRY_KEY", "operator-secret")
    reseal_model_folder(folder)
    verify_model_folder(folder)
    (folder / "model.safetensors").write_bytes(b"changed")
    with pytest.raises(ModelTampered):
        reseal_model_folder(folder)
    assert not (folder / SEAL_FILE).exists(), "no seal is left on a folder whose files do not match"


def test_models_verify_reports_a_tampered_manifest_and_promoted(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    folder = _make_model(registry.new_version_dir("classifier"))
    registry.promote("classifier", "v1")
    runner = CliRunner()
    assert runner.invoke(app, ["models", "verify", "--registry", str(tmp_path)]).exit_code == 0
    (folder / "manifest.json").write_text((folder / "manifest.json").read_text().replace('"score": 0.5', '"score": 9'))
    result = runner.invoke(app, ["models", "verify", "--registry", str(tmp_path)])
    assert result.exit_code == 1 and "manifest.json does not match its seal" in result.output
    (registry.root / "classifier" / "PROMOTED").write_text("../../etc\n")
    result = runner.invoke(app, ["models", "verify", "--registry", str(tmp_path)])
    assert result.exit_code == 1 and "PROMOTED" in result.output
    result = runner.invoke(app, ["models", "promote", "classifier", "../v1", "--registry", str(tmp_path)])
    assert result.exit_code == 2 and "not a model version" in result.output


def test_the_shipped_models_are_sealed() -> None:
    root = Path(__file__).resolve().parents[2] / "models"
    registry = ModelRegistry(root)
    for version in registry.versions("classifier"):
        verify_model_folder(registry.path("classifier", version), expected_kind="classifier")
    folder, manifest = registry.resolve("classifier")
    assert manifest.version == registry.promoted_version("classifier")


def test_models_seal_upgrades_a_registry_made_before_manifests_were_sealed(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    good = _make_model(registry.new_version_dir("sequence-lstm"))
    bad = _make_model(registry.new_version_dir("sequence-lstm"))
    for folder in (good, bad):
        (folder / SEAL_FILE).unlink()  # as an earlier version left them
    (bad / "model.safetensors").write_bytes(b"changed")
    runner = CliRunner()
    result = runner.invoke(app, ["models", "seal", "--registry", str(tmp_path)])
    assert result.exit_code == 1
    assert "sealed: sequence-lstm v1" in result.output and "FAILED" in result.output and "v2" in result.output
    verify_model_folder(good)
    with pytest.raises(ModelTampered):
        verify_model_folder(bad)
