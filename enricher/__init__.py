"""log-enricher: enriches log documents in OpenSearch with templates, classes and anomaly scores."""

__version__ = "0.1.0"
