"""Re-keying: documents written with a template id the miner has since aliased take the current id.

A template generalises (``Accepted password for root`` -> ``Accepted password for <*>``) or merges with its
siblings after some of its documents were written; its id changes with its text. So that every document of one
event type carries one id (charts, alerts and findings group by it), the documents of the old id are updated
in place: ``template.id`` and ``template.text`` only (the enricher's own fields; original fields are never
touched), each write conditional on the document being unchanged since it was read. A document changed
meanwhile is left for a later pass, as are documents past ``limit``: the alias record stays queued until a
re-key finds nothing left (see :class:`~enricher.cluster.state.TemplateStore`).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from opensearchpy import OpenSearch, helpers


@dataclass
class RekeyResult:
    updated: int = 0
    left: int = 0  # changed meanwhile, refused, or past the limit: a later pass re-keys them

    @property
    def complete(self) -> bool:
        return self.left == 0


def rekey_documents(client: OpenSearch, index: str, namespace: str, old_id: str, new_id: str, *,
                    text: str | None, first_doc: tuple[str, str], limit: int = 10_000) -> RekeyResult:
    """Give the documents of ``index`` enriched with template ``old_id`` the id ``new_id`` (and its ``text``).

    ``first_doc`` is the document the current id's record names as novel: the one document of the id that
    has ``template.novel``; the re-keyed ones lose it (they were novel under an id that is gone).
    """
    hits = helpers.scan(client, index=index, size=1000, params={"ignore_unavailable": "true"},
                        query={"query": {"term": {f"{namespace}.template.id": old_id}}, "_source": False,
                               "seq_no_primary_term": True})
    found = list(islice(hits, limit + 1))
    hits.close()  # clears the scroll
    batch = found[:limit]

    def updates():
        for hit in batch:
            template: dict[str, object] = {"id": new_id, "novel": (hit["_index"], hit["_id"]) == first_doc}
            if text is not None:
                template["text"] = text
            yield {"_op_type": "update", "_index": hit["_index"], "_id": hit["_id"], "if_seq_no": hit["_seq_no"],
                   "if_primary_term": hit["_primary_term"], "doc": {namespace: {"template": template}}}

    updated = sum(ok for ok, _ in helpers.streaming_bulk(client, updates(), max_retries=0, raise_on_error=False,
                                                          raise_on_exception=False))
    past_limit = len(found) > limit  # at least one more: the alias stays queued
    return RekeyResult(updated, len(batch) - updated + past_limit)
