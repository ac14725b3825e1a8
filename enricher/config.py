"""Service configuration: one YAML file plus environment overrides, validated with clear errors.

Environment variables override the file: ``ENRICHER_`` + the path in upper case with ``__`` between
levels, e.g. ``ENRICHER_OPENSEARCH__HOSTS='["https://os:9200"]'`` or ``ENRICHER_SOURCE__BATCH_SIZE=500``.

Durations are written as people write them: ``30s``, ``5m``, ``1h``, ``7d`` (or combined, ``1h30m``), ISO
8601 (``PT1H``, ``P7D``), ``HH:MM:SS``, or plain seconds (``3600``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from enricher.durations import Duration, DurationSeconds, OpenSearchDuration
from enricher.templates import MinerConfig


class ConfigError(ValueError):
    """The configuration file or environment is invalid; the message says where and why."""


def redact_url(url: str) -> str:
    """``https://user:pass@host:9200`` -> ``https://***@host:9200``; URLs without credentials are unchanged."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s'\"]+@", re.IGNORECASE)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """Remove credentials written in URLs, and any of ``secrets``, from a message meant for people."""
    text = _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)
    for secret in secrets or []:
        if secret:
            text = text.replace(secret, "***")
    return text


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenSearchConfig(_Section):
    hosts: list[str] = Field(default=["http://127.0.0.1:9200"], min_length=1, description="node URLs")
    username: str | None = Field(default=None, description="basic auth user")
    password: SecretStr | None = Field(default=None, description="basic auth password")
    api_key: SecretStr | None = Field(default=None, description="API key (base64 id:key), instead of basic auth")
    verify_certs: bool = Field(default=True, description="verify TLS certificates (keep on in production)")
    ca_certs: Path | None = Field(default=None, description="CA bundle for TLS verification (read when connecting)")
    timeout_seconds: DurationSeconds = Field(default=60.0, gt=0)
    max_connection_retries: int = Field(
        default=5, ge=0, description="retries on connection errors and timeouts (HTTP statuses are retried by the "
        "sink's own backoff)",
    )
    pool_maxsize: int = Field(default=8, ge=1, description="HTTP connections kept per node (reader and writer "
                              "threads share the client)")

    @field_validator("hosts")
    @classmethod
    def _hosts_are_urls(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not re.match(r"^https?://[^/\s]+", host):
                raise ValueError(f"{redact_url(host)!r} is not a URL like http://host:9200 or https://host:9200")
        return hosts

    def redacted_hosts(self) -> list[str]:
        return [redact_url(host) for host in self.hosts]

    def secrets(self) -> list[str]:
        """Every secret value of this section, to scrub from messages."""
        values = [s.get_secret_value() for s in (self.password, self.api_key) if s is not None]
        for host in self.hosts:
            parts = urlsplit(host)
            if parts.password:
                values += [parts.password, unquote(parts.password)]
        return values

    def warnings(self) -> list[str]:
        """Problems that only matter when connecting, reported by ``enricher config check``."""
        found = []
        if self.ca_certs is not None and not self.ca_certs.is_file():
            found.append(f"opensearch.ca_certs: {self.ca_certs} is not a file here; connecting will fail "
                         "unless it exists where the enricher runs")
        if not self.verify_certs and any(h.startswith("https://") for h in self.hosts):
            found.append("opensearch.verify_certs: false: TLS certificates are not verified")
        if any(h.startswith("http://") for h in self.hosts) and (self.password or self.api_key):
            found.append("opensearch.hosts: credentials are sent over plain http")
        return found

    @model_validator(mode="after")
    def _one_auth_method(self) -> "OpenSearchConfig":
        if self.api_key and (self.username or self.password):
            raise ValueError("give either api_key or username/password, not both")
        if bool(self.username) != bool(self.password):
            raise ValueError("basic auth needs both username and password")
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
    max_gap: Duration | None = Field(
        default=timedelta(minutes=30),
        description="anomaly models: a session restarts (as a new one) after this long without events; "
        "sessions keyed by host or service have no natural end (null: never)",
    )
    max_events: int | None = Field(
        default=1000, ge=1,
        description="anomaly models: a session restarts (as a new one) after this many events (null: never)",
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
    level_fields: list[str] = Field(
        default=["log.level", "level", "severity"],
        description="fields tried in order for the level the document states; where one is present it is the "
        "document's classification (classification.source: document) and the classifier is not asked ([]: "
        "always ask the classifier)",
    )
    timestamp_field: str = Field(default="@timestamp", description="field holding the event time")
    session: SessionConfig = Field(default_factory=SessionConfig)
    batch_size: int = Field(default=1000, ge=1, le=10_000, description="documents read and written per batch")
    lookback: Duration | None = Field(
        default=timedelta(days=7), description="only documents newer than this are enriched (null: all)"
    )
    late_arrival: Duration = Field(
        default=timedelta(hours=1),
        description="on resume, also look this far behind the checkpoint for late-indexed documents",
    )
    catchup_interval: Duration = Field(
        default=timedelta(minutes=10),
        description="how often a pass also sweeps the whole lookback window for documents that arrived later "
        "than late_arrival behind the checkpoint (or whose writes failed)",
    )
    query_filter: dict[str, Any] | None = Field(default=None, description="extra OpenSearch query DSL filter")
    max_message_bytes: int = Field(default=65_536, ge=1, description="longer messages are marked as errors")
    pit_keep_alive: OpenSearchDuration = Field(
        default="5m", description="how long a pass's point-in-time stays open between pages")


class SinkConfig(_Section):
    namespace: str = Field(default="enrichment", pattern=r"^[a-z_][a-z0-9_]*$",
                           description="top-level field the enricher writes under; nothing else is touched")
    chunk_size: int = Field(default=500, ge=1, le=10_000)
    max_retries: int = Field(default=6, ge=0, description="retries of 429/503 answers, per request and per item")
    initial_backoff_seconds: DurationSeconds = Field(default=0.5, gt=0)
    max_backoff_seconds: DurationSeconds = Field(default=30.0, gt=0)
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
    novel_template_flags: int = Field(
        default=100, ge=0,
        description="documents of a template no anomaly model knows that are flagged anomalous (anomaly.kind: "
        "novel_template), per worker; after that the models abstain on it until `enricher train` teaches it to "
        "them. Alerts that should not fire on new log lines filter on anomaly.kind",
    )
    torch_threads: int | None = Field(
        default=1, ge=1,
        description="CPU threads for model inference (null: torch's default, one per core). 1 by default: the "
        "service's model calls are small, a second thread mostly spins and takes CPU from OpenSearch and the "
        "writer (measured faster with identical verdicts)",
    )

    @field_validator("sequence_kinds", "autoencoder_kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        from enricher.anomaly.kinds import anomaly_kinds  # the kind table; imports no model code

        unknown = [kind for kind in kinds if kind not in anomaly_kinds()]
        if unknown:
            raise ValueError(f"unknown anomaly model kind(s) {', '.join(unknown)}; known: {', '.join(anomaly_kinds())}")
        return kinds


class TemplatesConfig(MinerConfig):
    """The template miner's settings, and how documents are split into log sources for it."""

    model_config = ConfigDict(extra="forbid")

    partition_fields: list[str] = Field(
        default=["service.name", "log.file.path", "log.file"],
        description="fields tried in order for a document's log source (ECS / OpenTelemetry names by default; add "
        "your own, e.g. a flat `service`): each source gets its own miner, so sources sharing an index do not "
        "mix their templates ([]: one miner for everything)",
    )
    max_partitions: int = Field(
        default=1000, ge=1,
        description="cap on distinct sources; documents of sources beyond it share one miner (a field with "
        "per-document values must not make a miner per document)",
    )


class MappingsConfig(_Section):
    """How the enriched fields' mapping reaches the source indices without taking over the operator's templates."""

    index_template: bool = Field(
        default=False,
        description="also install an index template for source.index_patterns (composed of the component "
        "template). Off by default: OpenSearch applies only the highest-priority index template to a new index, "
        "so an enricher template would replace your own template's settings and mappings. Instead, compose the "
        "component template enricher-<namespace> into your template, or let the enricher put the mapping on "
        "each index at the start of every pass",
    )
    index_template_priority: int | None = Field(
        default=None, ge=0,
        description="priority of that index template (null: the lowest priority from 1 up that no other index "
        "template uses, so several enricher configurations can coexist)",
    )


class ScheduleConfig(_Section):
    interval_seconds: DurationSeconds = Field(default=60.0, gt=0, description="time between enrichment passes")
    max_batches_per_pass: int | None = Field(default=None, ge=1, description="cap on batches in one pass")


class FindingsConfig(_Section):
    """How trends are measured, what counts as a finding, and where findings are written."""

    enabled: bool = Field(default=True, description="compute findings in the service after passes")
    interval: Duration = Field(default=timedelta(minutes=5), description="time between findings runs")
    index: str = Field(default="enricher-findings", description="index of findings and incidents")
    bucket: Duration = Field(default=timedelta(minutes=5), description="counts are taken per bucket of this size")
    window: Duration = Field(default=timedelta(hours=1), description="the latest stretch each run analyses")
    baseline: Duration = Field(default=timedelta(days=7), description="history a template's baseline comes from")
    settle: Duration = Field(
        default=timedelta(minutes=2),
        description="the newest stretch left out of a run: its documents may not be enriched yet",
    )
    source_fields: list[str] = Field(
        default=["host.name", "host", "service.name", "service"],
        description="document fields naming the host/service a log comes from; the first present one is used",
    )
    session_field: str | None = Field(default=None, description="session field (default: <namespace>.session)")
    error_labels: list[str] = Field(default=["ERROR", "CRITICAL"], description="classification labels counted as errors")
    level_field: str | None = Field(
        default=None, description="an original level field also counted (values in error_labels, any case)",
    )
    z_threshold: float = Field(default=6.0, gt=0, description="robust z-score a bucket must pass to be a spike/drop")
    spike_ratio: float = Field(default=3.0, gt=1, description="observed/expected a spike must reach")
    drop_ratio: float = Field(default=4.0, gt=1, description="expected/observed a drop must reach")
    min_count: int = Field(default=20, ge=1, description="documents a bucket needs before it can be a spike")
    min_expected: float = Field(default=4.0, gt=0, description="expected count a silence or drop needs")
    regular_fraction: float = Field(default=0.5, gt=0, le=1, description="share of baseline buckets a template "
                                    "must appear in before its silence is a finding")
    silence_buckets: int = Field(default=3, ge=1, description="empty buckets in a row that make a silence (at "
                                 "least, and more than twice the template's longest quiet spell in the baseline)")
    drop_buckets: int = Field(default=2, ge=1, description="low buckets in a row that make a drop")
    new_template_min_count: int = Field(default=10, ge=1, description="documents of a template new in the window")
    min_baseline_buckets: int = Field(default=12, ge=2, description="baseline buckets needed to judge a series")
    incident_gap: Duration = Field(default=timedelta(minutes=15), description="findings closer than this are "
                                    "one incident")
    incident_min_anomalies: int = Field(default=3, ge=1, description="anomalies of a template in one bucket "
                                        "that start an incident by themselves")
    max_candidates: int = Field(default=10, ge=1)
    max_evidence_docs: int = Field(default=20, ge=1, le=100)
    max_sources: int = Field(default=200, ge=1, description="hosts/services tracked per run (most active first)")
    page_size: int = Field(default=10_000, ge=100, le=65_535, description="composite aggregation page")
    dashboards_url: str = Field(default="http://127.0.0.1:5601", description="OpenSearch Dashboards, for links")

    @model_validator(mode="after")
    def _window_holds_buckets(self) -> FindingsConfig:
        if self.window < self.bucket or self.baseline < self.bucket:
            raise ValueError("findings.window and findings.baseline must each hold at least one bucket")
        if self.bucket < timedelta(minutes=1):
            raise ValueError("findings.bucket must be at least 1 minute")
        return self


class Settings(BaseSettings):
    """The whole configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(env_prefix="ENRICHER_", env_nested_delimiter="__", extra="forbid")

    pipeline_version: str = Field(
        default="1", description="documents not yet enriched by this version are (re-)enriched; bump to redo"
    )
    state_index: str = Field(default="enricher-state", description="index for checkpoints and miner state")
    templates_index: str = Field(default="enricher-templates", description="index of known templates")
    templates_retention: Duration = Field(
        default=timedelta(days=30),
        description="templates not seen for this long are dropped from the templates index (bounds its size; "
        "a template that returns after that is novel again)",
    )
    state_save_interval: Duration = Field(
        default=timedelta(minutes=1),
        description="how often the miner and session state is saved during a pass (also at its end)",
    )
    opensearch: OpenSearchConfig = Field(default_factory=OpenSearchConfig)
    source: SourceConfig = Field(default_factory=SourceConfig)
    sink: SinkConfig = Field(default_factory=SinkConfig)
    mappings: MappingsConfig = Field(default_factory=MappingsConfig)
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)
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

    def redacted(self) -> dict[str, Any]:
        """The effective settings as plain data, with passwords, API keys and URL credentials hidden."""
        data = self.model_dump(mode="json")
        section = data["opensearch"]
        section["hosts"] = self.opensearch.redacted_hosts()
        for key in ("password", "api_key"):
            if section.get(key) is not None:
                section[key] = "***"
        return data


def _format_validation_error(error: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration ({origin}):"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = redact_text(item["msg"]).removeprefix("Value error, ")
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
