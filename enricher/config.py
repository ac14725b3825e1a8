"""Service configuration: one YAML file plus environment overrides, validated with clear errors.

Environment variables override the file: ``ENRICHER_`` + the path in upper case with ``__`` between
levels, e.g. ``ENRICHER_OPENSEARCH__HOSTS='["https://os:9200"]'`` or ``ENRICHER_SOURCE__BATCH_SIZE=500``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from enricher.findings.config import FindingsConfig
from enricher.templates import MinerConfig


class ConfigError(ValueError):
    """The configuration file or environment is invalid; the message says where and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenSearchConfig(_Section):
    hosts: list[str] = Field(default=["http://127.0.0.1:9200"], min_length=1, description="node URLs")
    username: str | None = Field(default=None, description="basic auth user")
    password: SecretStr | None = Field(default=None, description="basic auth password")
    api_key: SecretStr | None = Field(default=None, description="API key (base64 id:key), instead of basic auth")
    verify_certs: bool = Field(default=True, description="verify TLS certificates (keep on in production)")
    ca_certs: Path | None = Field(default=None, description="CA bundle for TLS verification")
    timeout_seconds: float = Field(default=60.0, gt=0)
    max_connection_retries: int = Field(default=5, ge=0, description="retries on timeouts and 502/503/504")

    @field_validator("hosts")
    @classmethod
    def _hosts_are_urls(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not re.match(r"^https?://[^/\s]+", host):
                raise ValueError(f"{host!r} is not a URL like http://host:9200 or https://host:9200")
        return hosts

    @model_validator(mode="after")
    def _one_auth_method(self) -> "OpenSearchConfig":
        if self.api_key and (self.username or self.password):
            raise ValueError("give either api_key or username/password, not both")
        if bool(self.username) != bool(self.password):
            raise ValueError("basic auth needs both username and password")
        if self.ca_certs is not None and not self.ca_certs.is_file():
            raise ValueError(f"ca_certs {self.ca_certs} is not a file")
        return self


class SessionConfig(_Section):
    """How a document's session (the sequence its events belong to) is found."""

    fields: list[str] = Field(
        default=["trace.id", "trace_id", "request_id", "session_id", "host.name", "host"],
        description="document fields tried in order; the first present one is the session key",
    )
    regex: str | None = Field(
        default=None,
        description=r"regex applied to the message; its first group (or whole match) is the key, e.g. (blk_-?\d+)",
    )
    default_key: str = Field(default="default", description="key for documents with no session field or match")
    ignore_values: list[str] = Field(
        default=["", "-"], description="field values that are no session key (placeholders): the next field is tried"
    )

    @field_validator("regex")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"session regex {pattern!r} does not compile: {exc}") from exc
        return pattern


class SourceConfig(_Section):
    index_patterns: list[str] = Field(default=["logs-*"], min_length=1)
    message_field: str = Field(default="message", description="field holding the log message")
    timestamp_field: str = Field(default="@timestamp", description="field holding the event time")
    session: SessionConfig = Field(default_factory=SessionConfig)
    batch_size: int = Field(default=1000, ge=1, le=10_000, description="documents read and written per batch")
    lookback: timedelta | None = Field(
        default=timedelta(days=7), description="only documents newer than this are enriched (null: all)"
    )
    late_arrival: timedelta = Field(
        default=timedelta(hours=1),
        description="on resume, also look this far behind the checkpoint for late-indexed documents",
    )
    catchup_interval: timedelta = Field(
        default=timedelta(minutes=10),
        description="how often a pass also sweeps the whole lookback window for documents that arrived later "
        "than late_arrival behind the checkpoint (or whose writes failed)",
    )
    query_filter: dict[str, Any] | None = Field(default=None, description="extra OpenSearch query DSL filter")
    max_message_bytes: int = Field(default=65_536, ge=1, description="longer messages are marked as errors")
    pit_keep_alive: str = Field(default="5m", pattern=r"^\d+[smh]$")


class SinkConfig(_Section):
    namespace: str = Field(default="enrichment", pattern=r"^[a-z_][a-z0-9_]*$",
                           description="top-level field the enricher writes under; nothing else is touched")
    chunk_size: int = Field(default=500, ge=1, le=10_000)
    max_retries: int = Field(default=6, ge=0, description="retries of 429/503 answers, per request and per item")
    initial_backoff_seconds: float = Field(default=0.5, gt=0)
    max_backoff_seconds: float = Field(default=30.0, gt=0)
    max_conflict_retries: int = Field(default=5, ge=0, description="re-read and retry on version conflicts")
    refresh: bool = Field(default=False, description="refresh after each bulk request (tests only)")


class ModelsConfig(_Section):
    registry: Path = Field(default=Path("models"), description="folder of the versioned model registry")
    classifier: bool = Field(default=True, description="classify documents with the promoted classifier")
    sequence_kinds: list[str] = Field(default=["sequence-lstm"], description="sequence models to score with")
    autoencoder_kinds: list[str] = Field(default=["autoencoder-lstm", "autoencoder-vae"])
    missing_model: Literal["skip", "fail"] = Field(
        default="skip", description="when a configured kind has no promoted version: skip it, or refuse to start"
    )
    classifier_precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="precision of classifier inference; auto: bfloat16 where the CPU runs it natively (about "
        "half the cost of a new template's model call), else float32",
    )
    torch_threads: int | None = Field(
        default=None, ge=1,
        description="CPU threads for model inference (null: torch's default, one per core); lower it when the "
        "enricher shares its machine with an OpenSearch node",
    )


class ScheduleConfig(_Section):
    interval_seconds: float = Field(default=60.0, gt=0, description="time between enrichment passes")
    max_batches_per_pass: int | None = Field(default=None, ge=1, description="cap on batches in one pass")


class Settings(BaseSettings):
    """The whole configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(env_prefix="ENRICHER_", env_nested_delimiter="__", extra="forbid")

    pipeline_version: str = Field(
        default="1", description="documents not yet enriched by this version are (re-)enriched; bump to redo"
    )
    state_index: str = Field(default="enricher-state", description="index for checkpoints and miner state")
    templates_index: str = Field(default="enricher-templates", description="index of known templates")
    templates_retention: timedelta = Field(
        default=timedelta(days=30),
        description="templates not seen for this long are dropped from the templates index (bounds its size; "
        "a template that returns after that is novel again)",
    )
    state_save_interval: timedelta = Field(
        default=timedelta(minutes=1),
        description="how often the miner and session state is saved during a pass (also at its end)",
    )
    opensearch: OpenSearchConfig = Field(default_factory=OpenSearchConfig)
    source: SourceConfig = Field(default_factory=SourceConfig)
    sink: SinkConfig = Field(default_factory=SinkConfig)
    templates: MinerConfig = Field(default_factory=MinerConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    findings: FindingsConfig = Field(default_factory=FindingsConfig)
    metrics_port: int | None = Field(default=None, ge=1, le=65535, description="serve Prometheus metrics here")
    metrics_host: str = Field(default="127.0.0.1", description="address the metrics endpoint binds to")
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init values; the environment overrides it.
        return env_settings, init_settings


def _format_validation_error(error: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration ({origin}):"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling)"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the YAML file (if any), apply environment overrides, validate. Raises ConfigError."""
    values: dict[str, Any] = {}
    origin = "defaults and environment"
    if path is not None:
        path = Path(path)
        origin = str(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of settings")
        values = loaded or {}
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin)) from exc
