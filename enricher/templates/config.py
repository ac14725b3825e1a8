"""Settings of the template miner (a pydantic model: kept out of the module compiled with mypyc, see
enricher/native.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from enricher.masking import MaskingConfig


def _default_masking() -> MaskingConfig:
    # Timestamps are masked digit by digit (07:07:00 -> <*>:<*>:<*>) by the number masker, which is how Loghub
    # ground truth writes them; a whole-timestamp mask would also hide the month and day words.
    return MaskingConfig(timestamps=False)


class MinerConfig(BaseModel):
    """Settings of :class:`TemplateMiner`. The defaults are meant to work on any log source."""

    masking: MaskingConfig = Field(default_factory=_default_masking)
    similarity: float = Field(
        0.6, ge=0.0, le=1.0, description="min share of equal tokens to join a cluster (a word in a value slot: half)"
    )
    max_templates: int = Field(20_000, ge=1, description="cap on templates kept; rare, old ones are evicted")
    max_aliases: int = Field(200_000, ge=0, description="cap on the alias map (oldest entries dropped first)")
    min_siblings: int = Field(
        4, ge=2, description="templates differing in one word only that make that word a variable"
    )
    min_siblings_pair: int = Field(
        4, ge=0, description="templates differing in the same two words only that make both variables, if each "
        "word also takes min_siblings values (0: never)"
    )
    min_siblings_first: int = Field(
        8, ge=2, description="the same for the first word, which more often names the event (boot / halt ...)"
    )
    merge_runs: bool = Field(True, description="join templates that differ only in the length of a run of values")
    exact_cache_size: int = Field(50_000, ge=0, description="masked messages remembered for O(1) matching")
