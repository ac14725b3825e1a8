"""Building the OpenSearch client from configuration."""

from __future__ import annotations

from opensearchpy import OpenSearch

from enricher.config import OpenSearchConfig


def make_client(config: OpenSearchConfig) -> OpenSearch:
    """A client with retries on timeouts and 502/503/504, and TLS verification unless turned off."""
    options: dict = {
        "hosts": config.hosts,
        "timeout": config.timeout_seconds,
        "max_retries": config.max_connection_retries,
        "retry_on_timeout": True,
        "retry_on_status": (502, 503, 504),
    }
    if any(host.startswith("https://") for host in config.hosts):
        options["use_ssl"] = True
        options["verify_certs"] = config.verify_certs
        options["ssl_show_warn"] = config.verify_certs
        if config.ca_certs is not None:
            options["ca_certs"] = str(config.ca_certs)
    if config.username and config.password:
        options["http_auth"] = (config.username, config.password.get_secret_value())
    if config.api_key:
        options["headers"] = {"Authorization": f"ApiKey {config.api_key.get_secret_value()}"}
    return OpenSearch(**options)
