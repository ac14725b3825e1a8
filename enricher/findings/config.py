"""Settings of the findings stage (trends, silences, incidents), the ``findings`` section of the config."""

from __future__ import annotations

from datetime import timedelta

from enricher.durations import Duration

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FindingsConfig(BaseModel):
    """How trends are measured, what counts as a finding, and where findings are written."""

    model_config = ConfigDict(extra="forbid")

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
    def _window_holds_buckets(self) -> "FindingsConfig":
        if self.window < self.bucket or self.baseline < self.bucket:
            raise ValueError("findings.window and findings.baseline must each hold at least one bucket")
        if self.bucket < timedelta(minutes=1):
            raise ValueError("findings.bucket must be at least 1 minute")
        return self
