from __future__ import annotations

from pathlib import Path

import pytest

from enricher.config import ConfigError, ModelsConfig, load_settings


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

    from enricher.orchestration.loading import build_pipeline

    with pytest.raises(ConfigError, match="models.torch_threads"):
        load_settings(write(tmp_path, "models:\n  torch_threads: 0\n"))
    before = torch.get_num_threads()
    wanted = 2 if before != 2 else 3  # a value the process does not have already, or the test proves nothing
    shipped = Path(__file__).resolve().parents[2] / "models"  # the shipped classifier: a model is loaded
    settings = load_settings(write(tmp_path, f"models:\n  registry: {shipped}\n  sequence_kinds: []\n"
                                             f"  autoencoder_kinds: []\n  torch_threads: {wanted}\n"))
    try:
        build_pipeline(settings)
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)
    assert ModelsConfig().torch_threads == 1


def test_a_misspelt_anomaly_kind_fails_at_start(tmp_path):
    with pytest.raises(ConfigError, match="unknown anomaly model kind.*sequence-lsmt"):
        load_settings(write(tmp_path, "models:\n  sequence_kinds: [sequence-lsmt]\n"))


def test_classifier_precision_is_validated(tmp_path):
    assert load_settings(None).models.classifier_precision == "auto"
    with pytest.raises(ConfigError, match="models.classifier_precision"):
        load_settings(write(tmp_path, "models:\n  classifier_precision: int8\n"))


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("7d", 604800), ("1h30m", 5400), ("PT1H", 3600), ("P7D", 604800),
     ("3600", 3600), (3600, 3600), ("01:00:00", 3600), ("1.5h", 5400)],
)
def test_durations_are_read_as_people_write_them(tmp_path, written, seconds):
    value = f'"{written}"' if isinstance(written, str) else written
    settings = load_settings(write(tmp_path, f"source:\n  late_arrival: {value}\n  lookback: {value}\n"
                                             f"  pit_keep_alive: {value}\nschedule:\n  interval_seconds: {value}\n"))
    assert settings.source.late_arrival.total_seconds() == seconds
    assert settings.source.lookback.total_seconds() == seconds
    assert settings.schedule.interval_seconds == seconds
    assert settings.source.pit_keep_alive == f"{seconds}s", "OpenSearch gets a time unit it reads"


def test_durations_from_the_environment(monkeypatch):
    monkeypatch.setenv("ENRICHER_SOURCE__LATE_ARRIVAL", "1h")
    monkeypatch.setenv("ENRICHER_SOURCE__LOOKBACK", "30d")
    monkeypatch.setenv("ENRICHER_SINK__MAX_BACKOFF_SECONDS", "2m")
    settings = load_settings(None)
    assert settings.source.late_arrival.total_seconds() == 3600
    assert settings.source.lookback.days == 30
    assert settings.sink.max_backoff_seconds == 120


@pytest.mark.parametrize("written", ["abc", "-5m", "5x", "1h-"])
def test_bad_durations_say_how_to_write_one(tmp_path, written):
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, f'source:\n  late_arrival: "{written}"\n'))
    message = str(error.value)
    assert "source.late_arrival" in message and ("30s, 5m, 1h, 7d" in message or "negative" in message)


def test_effective_settings_write_durations_back_compactly(tmp_path):
    settings = load_settings(write(tmp_path, "source:\n  late_arrival: PT90M\n  lookback: 7d\n"))
    dumped = settings.model_dump(mode="json")["source"]
    assert dumped["late_arrival"] == "1h30m" and dumped["lookback"] == "7d"
    assert load_settings(write(tmp_path, f"source:\n  late_arrival: {dumped['late_arrival']}\n")).source.late_arrival \
        == settings.source.late_arrival


def test_missing_ca_file_is_a_warning_not_an_error(tmp_path):
    settings = load_settings(write(tmp_path, "opensearch:\n  hosts: ['https://os:9200']\n  ca_certs: /nope/ca.pem\n"))
    assert any("ca_certs" in warning and "/nope/ca.pem" in warning for warning in settings.opensearch.warnings())


def test_redacted_settings_hide_every_secret(tmp_path):
    settings = load_settings(write(tmp_path, "opensearch:\n  hosts: ['https://admin:hunter2@os:9200']\n"
                                             "  username: enricher\n  password: s3cret\n"))
    shown = repr(settings.redacted())
    assert "hunter2" not in shown and "s3cret" not in shown and "admin" not in shown
    assert settings.redacted()["opensearch"]["hosts"] == ["https://***@os:9200"]


def test_a_bad_host_with_credentials_is_reported_without_them(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, "opensearch:\n  hosts: ['ftp://admin:hunter2@os:9200']\n"))
    assert "hunter2" not in str(error.value) and "***@os:9200" in str(error.value)


def test_a_service_without_models_does_not_import_torch(tmp_path):
    # torch costs ~500 MB of RSS: a templates-only service (no promoted model) must not load it.
    import subprocess
    import sys

    code = ("import sys\nfrom enricher.config import Settings\nfrom enricher.orchestration.loading import build_pipeline\n"
            f"build_pipeline(Settings(models={{'registry': {str(tmp_path / 'empty')!r}}}))\n"
            "sys.exit(3 if 'torch' in sys.modules else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:] or "torch was imported"
