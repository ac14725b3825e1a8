"""The templates index as the service keeps it, so that every worker and restart agrees on novelty.

A template is novel on one document: the one its record names (see
:class:`~enricher.cluster.state.TemplateStore`). Ids that a generalised template replaced are recorded as
aliases, and the documents written with them are re-keyed after the pass. Housekeeping settles records
left unconfirmed by a crash and evicts templates unseen for longer than the retention.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime

from opensearchpy import OpenSearch

from enricher.caching import BoundedDict
from enricher.cluster.rekey import rekey_documents
from enricher.cluster.source import DocumentSource, get_field
from enricher.cluster.state import TemplateStore
from enricher.cluster.writer import DocumentOutcome, Fate
from enricher.config import Settings
from enricher.observability import Metrics
from enricher.orchestration.pipeline import NoveltyCandidate
from enricher.templates import PartitionedMiner

log = logging.getLogger(__name__)

MAX_KNOWN_TEMPLATE_RECORDS = 200_000


class TemplateRecords:
    def __init__(self, settings: Settings, client: OpenSearch, source: DocumentSource, store: TemplateStore,
                 metrics: Metrics) -> None:
        self.settings = settings
        self.client = client
        self.source = source
        self.store = store
        self.metrics = metrics
        # Template id -> the document its record names as novel, for ids this worker has registered or
        # looked up: each id is sent to the templates index once per worker, not once per batch.
        self.first_docs: BoundedDict[str, tuple[str, str]] = BoundedDict(MAX_KNOWN_TEMPLATE_RECORDS)
        self._aliases_to_record: dict[str, str] = {}  # aliases the templates index refused so far
        self._evicted_on: date | None = None

    def novel(self, miner: PartitionedMiner, candidates: dict[str, NoveltyCandidate], aliases: dict[str, str],
              refs: list[tuple[str, str]]) -> set[str]:
        """The templates of a batch that are novel on the document where the batch first has them: those
        whose record names that document (a new record, or one left by a write that was lost). The ids the
        batch's templates replaced are recorded as their aliases (see rekey_aliased).
        """
        if aliases or self._aliases_to_record:
            self._record_aliases(miner, aliases)
        unknown = {tid: (c.text, refs[c.position]) for tid, c in candidates.items() if tid not in self.first_docs}
        if unknown:
            recorded = self.store.register(unknown, source=",".join(self.settings.source.index_patterns))
            for template_id, first_doc in recorded.items():
                self.first_docs.put(template_id, first_doc)
        return {tid for tid, c in candidates.items() if self.first_docs.get(tid) == refs[c.position]}

    def _record_aliases(self, miner: PartitionedMiner, aliases: dict[str, str]) -> None:
        pending = {old: miner.canonical_id(new) for old, new in {**self._aliases_to_record, **aliases}.items()}
        try:
            recorded = self.store.record_aliases(pending)
        except Exception:  # noqa: BLE001 -- kept and sent again with the next batch
            log.warning("could not record template aliases; the next batch tries again", exc_info=True)
            recorded = False
        self._aliases_to_record = {} if recorded else dict(list(pending.items())[-MAX_KNOWN_TEMPLATE_RECORDS:])

    def written(self, outcomes: Iterable[DocumentOutcome], today: str) -> None:
        """A batch was written: its novel documents confirm their records; its templates were seen today."""
        templates = [(o.fate, o.enrichment.template) for o in outcomes if o.enrichment.template is not None]
        self.store.confirm(t.id for fate, t in templates if fate is Fate.WRITTEN and t.novel)
        self.store.touch((t.id for _, t in templates), today=today)

    def rekey_aliased(self, miner: PartitionedMiner) -> None:
        """Documents written with an id that is now an alias take the current id (see cluster/rekey.py)."""
        try:
            pending = self.store.pending_aliases()
            if not pending:
                return
            self.source.refresh()  # documents of this pass are written: make them searchable for the re-key
            current = {old: miner.canonical_id(new) for old, (new, _, _) in pending.items()}
            firsts = {new: self.first_docs.get(new) for new in set(current.values())}
            firsts.update(self.store.first_docs_of([new for new, first in firsts.items() if first is None]))
            for old, (_, seq_no, primary_term) in pending.items():
                new, first = current[old], firsts.get(current[old])
                # The current id's own first document stays its one novel document: a re-keyed one that was
                # novel under the old id is not (it needs the record; without one, a later pass re-keys).
                if not first or not first[1]:
                    continue
                result = rekey_documents(self.client, self.source.index, self.settings.sink.namespace, old, new,
                                         text=miner.template_of(new), first_doc=first)
                self.metrics.rekeyed.inc(result.updated)
                if result.complete:
                    self.store.mark_rekeyed(old, seq_no, primary_term)
        except Exception:  # noqa: BLE001 -- housekeeping: the records stay queued for the next pass
            log.warning("could not re-key documents of aliased templates", exc_info=True)

    def reconcile(self, miner: PartitionedMiner) -> None:
        """Settle template records left unconfirmed by crashes (see TemplateStore)."""
        try:
            self.store.reconcile(lambda refs: self._template_ids_of(miner, refs))
        except Exception:  # noqa: BLE001 -- housekeeping: a later pass tries again
            log.warning("could not reconcile template records", exc_info=True)

    def _template_ids_of(self, miner: PartitionedMiner,
                         refs: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        namespace = self.settings.sink.namespace
        current = {}
        for doc in self.source.reread(refs):
            done = get_field(doc.source, f"{namespace}.pipeline_version") == self.settings.pipeline_version
            template_id = get_field(doc.source, f"{namespace}.template.id") if done else None
            # (an id aliased since is the same event type: its re-key may still be queued)
            current[doc.ref] = miner.canonical_id(template_id) if template_id else template_id
        return current

    def evict(self, now: datetime) -> None:
        """Once a day per worker: drop the records of templates not seen within the retention."""
        if self._evicted_on == now.date():
            return
        try:
            self.store.evict_unseen(self.settings.templates_retention, now)
            self._evicted_on = now.date()
        except Exception:  # noqa: BLE001 -- housekeeping; the next pass tries again
            log.warning("could not evict old templates", exc_info=True)
