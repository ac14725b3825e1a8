"""Building the OpenSearch client from configuration, and the first contact with the cluster."""

from __future__ import annotations

import logging
import threading
from typing import Any

from opensearchpy import OpenSearch, Transport
from opensearchpy.exceptions import AuthenticationException, AuthorizationException, TransportError
from opensearchpy.exceptions import ConnectionError as OSConnectionError

from enricher.config import ConfigError, OpenSearchConfig, Settings, redact_text
from enricher.retry import RetryPolicy

log = logging.getLogger(__name__)

# Status codes that mean "not up yet" at first contact: a node still starting answers 503.
_NOT_READY_STATUSES = (502, 503, 504)
# A first contact needs no long timeout: a silent host should not hold up the wait's next attempt.
_CONTACT_TIMEOUT_SECONDS = 10.0


class ClusterAuthError(RuntimeError):
    """OpenSearch refused the configured credentials (401) or their permissions (403)."""


class ClusterUnreachable(RuntimeError):
    """OpenSearch did not answer (connection refused, timeout, or a node that is not ready)."""


class PolicyTransport(Transport):
    """opensearch-py's transport, with every whole request retried by the one :class:`RetryPolicy`.

    The transport's own loop only fails over to another node at once (connection errors, timeouts); the
    waits between attempts, and the retries of 429/5xx answers, are the policy's. Single ``_bulk`` items
    are retried by the sink and the template store with the same policy.
    """

    policy: RetryPolicy = RetryPolicy()

    def perform_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        request = super().perform_request
        return self.policy.call(lambda: request(method, url, *args, **kwargs), what=f"{method} {url.split('?')[0]}")


def retry_policy(settings: Settings) -> RetryPolicy:
    sink = settings.sink
    return RetryPolicy(sink.max_retries, sink.initial_backoff_seconds, sink.max_backoff_seconds)


def make_client(config: OpenSearchConfig, policy: RetryPolicy | None = None) -> OpenSearch:
    """A client for ``config``: TLS verification unless turned off, and (with ``policy``) every request
    retried by that policy when the cluster pushes back or is briefly away.

    Without a policy, a request is tried once per node (a first contact should answer fast). HTTP statuses
    are never retried by the transport's own loop (``retry_on_status=()``): two layers would multiply the
    attempts. The pool holds ``pool_maxsize`` connections because the reader and the writer thread share
    one client.
    """
    options: dict[str, Any] = {
        "hosts": config.hosts,
        "timeout": config.timeout_seconds,
        "max_retries": config.max_connection_retries,
        "retry_on_timeout": True,
        "retry_on_status": (),
        "pool_maxsize": config.pool_maxsize,
    }
    if policy is not None:
        options["transport_class"] = type("ConfiguredPolicyTransport", (PolicyTransport,), {"policy": policy})
    if any(host.startswith("https://") for host in config.hosts):
        options.update(_tls_options(config))
    if config.username and config.password:
        options["http_auth"] = (config.username, config.password.get_secret_value())
    if config.api_key:
        options["headers"] = {"Authorization": f"ApiKey {config.api_key.get_secret_value()}"}
    return OpenSearch(**options)


def _tls_options(config: OpenSearchConfig) -> dict[str, Any]:
    options: dict[str, Any] = {"use_ssl": True, "verify_certs": config.verify_certs, "ssl_show_warn": False}
    if not config.verify_certs:
        # Said once here; ssl_show_warn=False keeps urllib3 from repeating it on every request.
        log.warning("TLS certificate verification is off (opensearch.verify_certs: false) for %s",
                    ", ".join(config.redacted_hosts()))
    if config.ca_certs is not None:
        if not config.ca_certs.is_file():
            raise ConfigError(f"opensearch.ca_certs: {config.ca_certs} is not a file")
        options["ca_certs"] = str(config.ca_certs)
    return options


def check_cluster(client: OpenSearch, config: OpenSearchConfig) -> dict[str, Any]:
    """``GET /`` once; typed errors with one-line, credential-free messages."""
    where = ", ".join(config.redacted_hosts())
    try:
        return client.info(params={"request_timeout": min(config.timeout_seconds, _CONTACT_TIMEOUT_SECONDS)})
    except (AuthenticationException, AuthorizationException) as exc:
        what = "refused the credentials" if exc.status_code == 401 else "denied access to the configured user"
        raise ClusterAuthError(
            f"OpenSearch at {where} {what} (HTTP {exc.status_code}): check opensearch.username/password or "
            "opensearch.api_key" + ("" if exc.status_code == 401 else " and the user's cluster permissions")
        ) from None
    except OSConnectionError as exc:
        cause = exc.info if isinstance(exc.info, Exception) else exc
        reason = redact_text(f"{type(cause).__name__}: {cause}", config.secrets())[:300]
        raise ClusterUnreachable(f"cannot reach OpenSearch at {where}: {reason}") from None
    except TransportError as exc:
        if exc.status_code in _NOT_READY_STATUSES:
            raise ClusterUnreachable(f"OpenSearch at {where} is not ready (HTTP {exc.status_code})") from None
        raise


def wait_for_cluster(client: OpenSearch, config: OpenSearchConfig, stop: threading.Event) -> dict[str, Any] | None:
    """Wait until the cluster answers, trying again after 1 s, 2 s, 4 s, ... at most a minute apart; None if
    ``stop`` was set first. Auth failures are raised at once: waiting does not fix a wrong password."""
    delay = 1.0
    attempt = 0
    while not stop.is_set():
        attempt += 1
        try:
            return check_cluster(client, config)
        except ClusterUnreachable as exc:
            log.warning("OpenSearch not available (attempt %d): %s; retrying in %.0f s", attempt, exc, delay,
                        extra={"attempt": attempt, "retry_in_seconds": delay})
        stop.wait(delay)
        delay = min(60.0, delay * 2)
    return None
