"""One template miner per log source, with one memory cap shared by all of them.

Sources that share an index (two services, two hosts with different software) must not mix templates: a line of
one source never joins, generalises or evicts a template of another. :class:`PartitionedMiner` keeps one
:class:`~enricher.templates.TemplateMiner` per *partition key* (a source name, a service field...):

* template ids hash the partition with the template text (``template_id_of(text, partition)``), so they are
  unique across partitions and stable across restarts and processes. The empty partition ``""`` gives the plain
  text hash, i.e. the same ids as a lone ``TemplateMiner``: a saved single-miner state loads as partition ``""``;
* ``max_templates`` of the config caps the templates of all partitions together: past it, the rarest, least
  recently seen templates of any partition are evicted (one clock orders the messages of all partitions);
* ``canonical_id`` resolves an id issued by any partition (the alias map of the partition that issued it);
* the state (``to_state`` / ``save``) holds every partition, so each survives a restart.
"""

from __future__ import annotations

import json
import os
from typing import Any

from enricher.preprocess import Preprocessor
from enricher.records import TemplateMatch
from enricher.templates.miner import STATE_FORMAT as MINER_STATE_FORMAT
from enricher.templates.config import MinerConfig
from enricher.templates.miner import TemplateMiner, write_json_atomically

STATE_FORMAT = "enricher.templates.partitioned/1"


class PartitionedMiner:
    """One :class:`TemplateMiner` per partition key; ids unique across partitions; one shared template cap."""

    def __init__(self, config: MinerConfig | None = None) -> None:
        self.config = config or MinerConfig()
        # One preprocessor for all partitions: its caches (token and line skeletons) are bounded once, not per source.
        self._pre = Preprocessor(self.config.masking)
        self._miners: dict[str, TemplateMiner] = {}
        self._owner: dict[str, str] = {}  # template id (live or alias) -> partition that issued it; a cache
        self._clock = 0
        self._live = 0  # templates of all partitions, kept up to date after each add

    # ------------------------------------------------------------------ public API

    def add(self, message: str, partition: str = "") -> TemplateMatch:
        """Learn ``message`` in the miner of ``partition`` (created on first use) and return its template."""
        miner = self._miner_for(partition)
        before = len(miner)
        self._clock += 1
        match = miner.add(message, at=self._clock)
        self._count(miner, before, partition, match.template_id)
        return match

    def learn(self, message: str, partition: str = "") -> str:
        """:meth:`add` without reading the parameters (see TemplateMiner.learn): the template id only."""
        miner = self._miner_for(partition)
        before = len(miner)
        self._clock += 1
        template_id = miner.learn(message, at=self._clock)
        self._count(miner, before, partition, template_id)
        return template_id

    def _miner_for(self, partition: str) -> TemplateMiner:
        miner = self._miners.get(partition)
        if miner is None:
            miner = self._miners[partition] = self._new_miner(partition)
        return miner

    def _count(self, miner: TemplateMiner, before: int, partition: str, template_id: str) -> None:
        """Book the template ``miner`` (of ``before`` templates) just gave, and keep the shared cap."""
        self._owner[template_id] = partition
        self._live += len(miner) - before
        if self._live > self.config.max_templates:
            self._evict(spare=template_id)
        elif len(self._owner) > 2 * (self.config.max_templates + self.config.max_aliases):
            self._forget_owners()

    def match(self, message: str, partition: str = "") -> TemplateMatch | None:
        """The known template of ``partition`` that covers ``message``, or None; learns nothing."""
        miner = self._miners.get(partition)
        return miner.match(message) if miner is not None else None

    def canonical_id(self, template_id: str) -> str:
        """The current id of an id issued earlier by any partition (unknown ids map to themselves)."""
        miner = self._miner_of(template_id)
        return miner.canonical_id(template_id) if miner is not None else template_id

    def take_aliases(self) -> dict[str, str]:
        """The ids any partition aliased since the last call, each with its current id (see TemplateMiner)."""
        return {old: new for miner in self._miners.values() for old, new in miner.take_aliases().items()}

    def template_of(self, template_id: str) -> str | None:
        """The current template text of an id issued earlier, or None if unknown or evicted."""
        miner = self._miner_of(template_id)
        return miner.template_of(template_id) if miner is not None else None

    def partition_of(self, template_id: str) -> str | None:
        """The partition that issued ``template_id``, or None if no partition knows it."""
        miner = self._miner_of(template_id)
        return miner.namespace if miner is not None else None

    def extract_params(self, template: str, message: str) -> list[str]:
        """The values that the ``<*>`` of ``template`` stand for in ``message`` ([] if they do not line up)."""
        return self._any_miner().extract_params(template, message)

    def templates(self, partition: str | None = None) -> list[tuple[str, str, int]]:
        """(template_id, template, count) of the live templates of one partition, or of all; most frequent first."""
        miners = [self._miners[partition]] if partition in self._miners else [] if partition is not None else list(
            self._miners.values())
        rows = [row for miner in miners for row in miner.templates()]
        rows.sort(key=lambda row: (-row[2], row[1]))
        return rows

    def partitions(self) -> list[str]:
        """The partition keys seen (and still holding templates), sorted."""
        return sorted(self._miners)

    def miner(self, partition: str) -> TemplateMiner | None:
        """The miner of ``partition`` (read it, do not feed it directly: the shared cap would not see it)."""
        return self._miners.get(partition)

    def __len__(self) -> int:
        return self._live

    # ------------------------------------------------------------------ persistence

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state: config, shared clock and every partition's miner state."""
        return {
            "format": STATE_FORMAT,
            "config": self.config.model_dump(mode="json"),
            "clock": self._clock,
            "partitions": {name: miner.to_state() for name, miner in self._miners.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: MinerConfig | None = None) -> PartitionedMiner:
        """Rebuild from :meth:`to_state` output (``config`` overrides the saved one).

        A single :class:`TemplateMiner` state is accepted too and becomes partition ``""`` (same ids), so a
        deployment can switch to partitioning without losing its templates.
        """
        kind = state.get("format")
        if kind == MINER_STATE_FORMAT:
            state = {"format": STATE_FORMAT, "config": state["config"], "clock": state.get("clock", 0),
                     "partitions": {"": state}}
        elif kind != STATE_FORMAT:
            raise ValueError(f"not a partitioned template miner state (format {kind!r})")
        merged = cls(config or MinerConfig.model_validate(state["config"]))
        merged._clock = int(state.get("clock", 0))
        for name, miner_state in state["partitions"].items():
            inner = dict(miner_state, namespace=name)
            miner = TemplateMiner.from_state(inner, merged._partition_config(), preprocessor=merged._pre)
            merged._miners[name] = miner
            merged._live += len(miner)
        if merged._live > merged.config.max_templates:
            merged._evict(spare="")  # the cap may have been lowered since the state was saved
        return merged

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state as JSON, atomically (a crash never leaves a half-written file)."""
        write_json_atomically(path, self.to_state())

    @classmethod
    def load(cls, path: str | os.PathLike[str], config: MinerConfig | None = None) -> PartitionedMiner:
        """A miner restored from a file written by :meth:`save` (or by ``TemplateMiner.save``)."""
        with open(path, encoding="utf-8") as fh:
            return cls.from_state(json.load(fh), config)

    # ------------------------------------------------------------------ internals

    def _partition_config(self) -> MinerConfig:
        # The cap is enforced here, across partitions; a partition alone never exceeds it, so its own check is moot.
        return self.config.model_copy(update={"max_templates": self.config.max_templates + 1})

    def _new_miner(self, partition: str) -> TemplateMiner:
        return TemplateMiner(self._partition_config(), namespace=partition, preprocessor=self._pre)

    def _any_miner(self) -> TemplateMiner:
        first: TemplateMiner | None = next(iter(self._miners.values()), None)
        return first or TemplateMiner(self.config)

    def _miner_of(self, template_id: str) -> TemplateMiner | None:
        partition = self._owner.get(template_id)
        if partition is not None:
            miner = self._miners.get(partition)
            if miner is not None and miner.knows(template_id):
                return miner
        # After a restart, or an id evicted and later aliased: ask each partition once, remember the answer.
        for name, miner in self._miners.items():
            if miner.knows(template_id):
                self._owner[template_id] = name
                return miner
        return None

    def _evict(self, spare: str) -> None:
        """Drop the rarest, least recently seen templates of any partition, down to 90% of the cap.

        Never ``spare``, the template just returned: its id is about to be written, it must resolve.
        """
        keep = max(1, int(self.config.max_templates * 0.9))
        usage = sorted(
            (count, last_seen, name, template_id)
            for name, miner in self._miners.items()
            for count, last_seen, template_id in miner.usage()
            if template_id != spare
        )
        victims: dict[str, list[str]] = {}
        for _, _, name, template_id in usage[: max(0, self._live - keep)]:
            victims.setdefault(name, []).append(template_id)
        for name, ids in victims.items():
            self._miners[name].evict(ids)
        self._live = sum(len(miner) for miner in self._miners.values())
        self._forget_owners()

    def _forget_owners(self) -> None:
        """Drop cached owners of ids no partition knows any more (evicted, or aliases past ``max_aliases``)."""
        self._owner = {tid: name for tid, name in self._owner.items()
                       if name in self._miners and self._miners[name].knows(tid)}
