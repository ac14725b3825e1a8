"""Online log template mining with stable, content-derived template ids."""

from enricher.templates.miner import MinerConfig, TemplateMiner, template_id_of

__all__ = ["MinerConfig", "TemplateMiner", "template_id_of"]
