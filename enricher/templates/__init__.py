"""Online log template mining with stable, content-derived template ids (one miner per log source if wanted)."""

from enricher.templates.config import MinerConfig
from enricher.templates.miner import TemplateMiner, template_id_of
from enricher.templates.partitioned import PartitionedMiner

__all__ = ["MinerConfig", "PartitionedMiner", "TemplateMiner", "template_id_of"]
