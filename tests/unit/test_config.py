from __future__ import annotations

import pytest

from enricher.config import ConfigError, load_settings


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_need_no_file():
    settings = load_settings(None)
    assert settings.opensearch.verify_certs is True
    assert settings.source.index_patterns == ["logs-*"]
    assert settings.sink.namespace == "enrichment"


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, "source:\n  index_patterns: [app-*]\n  batch_size: 500\n")
    monkeypatch.setenv("ENRICHER_SOURCE__BATCH_SIZE", "200")
    settings = load_settings(path)
    assert settings.source.batch_size == 200
    assert settings.source.index_patterns == ["app-*"], "the rest of the section stays from the file"


def test_errors_name_each_bad_setting(tmp_path):
    path = write(tmp_path, "source:\n  batch_size: 0\n  bogus: 1\nopensearch:\n  hosts: ['localhost:9200']\n")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    message = str(error.value)
    assert "source.batch_size" in message and "source.bogus: unknown setting" in message
    assert "opensearch.hosts" in message and "not a URL" in message


def test_auth_is_either_basic_or_api_key(tmp_path):
    path = write(tmp_path, "opensearch:\n  username: u\n  password: p\n  api_key: k\n")
    with pytest.raises(ConfigError, match="either api_key or username/password"):
        load_settings(path)
    with pytest.raises(ConfigError, match="needs both username and password"):
        load_settings(write(tmp_path, "opensearch:\n  username: u\n"))


def test_missing_file_and_bad_yaml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "source: [unclosed"))
    with pytest.raises(ConfigError, match="session regex"):
        load_settings(write(tmp_path, "source:\n  session:\n    regex: '(blk_'\n"))


def test_torch_threads_are_applied_by_the_pipeline_builder(tmp_path):
    import torch

    from enricher.service import build_pipeline

    with pytest.raises(ConfigError, match="models.torch_threads"):
        load_settings(write(tmp_path, "models:\n  torch_threads: 0\n"))
    before = torch.get_num_threads()
    settings = load_settings(write(tmp_path, f"models:\n  registry: {tmp_path / 'empty'}\n  torch_threads: 1\n"))
    try:
        build_pipeline(settings)  # no promoted models: each kind is skipped, the setting still applies
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_classifier_precision_is_validated(tmp_path):
    assert load_settings(None).models.classifier_precision == "auto"
    with pytest.raises(ConfigError, match="models.classifier_precision"):
        load_settings(write(tmp_path, "models:\n  classifier_precision: int8\n"))
