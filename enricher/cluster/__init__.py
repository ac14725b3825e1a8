"""Everything that talks to OpenSearch: the client, reading pending documents (source), writing enrichments
back (sink, conflict-aware writer), the enricher's own state and template records, and the mappings.

The stages the pipeline runs (templates, classify, anomaly) never import from here: data flows from the
source, through pure stages, to the writer.
"""
