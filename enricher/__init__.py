"""log-enricher: enriches log documents in OpenSearch with templates, classes and anomaly scores."""

from enricher import native

__version__ = "0.1.0"

# Before any compiled module is imported: a stale or unwanted compiled build is bypassed (see enricher/native.py).
native.install()
