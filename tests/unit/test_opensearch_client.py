"""First contact with OpenSearch: the client's options, auth failures, waiting for a cluster that is down."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from enricher.cli.main import app
from enricher.config import OpenSearchConfig
from enricher.cluster.client import ClusterAuthError, ClusterUnreachable, check_cluster, make_client, wait_for_cluster

runner = CliRunner()


class _Refusing(http.server.BaseHTTPRequestHandler):
    status = 401

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.dumps({"error": {"type": "security_exception", "reason": "unauthorized"},
                           "status": self.status}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.fixture(params=[401, 403])
def refusing_server(request) -> Iterator[tuple[int, int]]:
    handler = type("Handler", (_Refusing,), {"status": request.param})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], request.param
    server.shutdown()
    server.server_close()


def test_client_pool_fits_two_threads_and_statuses_are_not_retried_twice():
    client = make_client(OpenSearchConfig(hosts=["http://127.0.0.1:9200"]))
    connection = client.transport.connection_pool.connections[0]
    assert connection.pool.pool.maxsize >= 4, "reader and sink threads share the client"
    assert tuple(client.transport.retry_on_status) == ()
    assert client.transport.max_retries == 5 and client.transport.retry_on_timeout


def test_unverified_tls_is_said_once(caplog):
    with caplog.at_level(logging.WARNING, logger="enricher.cluster.client"):
        make_client(OpenSearchConfig(hosts=["https://a:9200", "https://b:9200"], verify_certs=False))
    warnings = [r for r in caplog.records if "verification is off" in r.getMessage()]
    assert len(warnings) == 1


def test_auth_failure_is_one_clear_line_without_credentials(refusing_server, monkeypatch):
    port, status = refusing_server
    monkeypatch.setenv("ENRICHER_OPENSEARCH__HOSTS", f'["http://admin:hunter2@127.0.0.1:{port}"]')
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert f"HTTP {status}" in lines[0] and "hunter2" not in result.output and "admin" not in result.output
    assert f"http://***@127.0.0.1:{port}" in lines[0]


def test_check_cluster_raises_a_typed_auth_error(refusing_server):
    port, _ = refusing_server
    config = OpenSearchConfig(hosts=[f"http://127.0.0.1:{port}"], username="u", password="pw")
    with pytest.raises(ClusterAuthError):
        check_cluster(make_client(config), config)


class _FlakyClient:
    """Refuses ``failures`` times, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def info(self, params=None):  # noqa: ARG002
        from opensearchpy.exceptions import ConnectionError as OSConnectionError

        self.calls += 1
        if self.calls <= self.failures:
            raise OSConnectionError("N/A", "connection refused", ConnectionRefusedError(111, "refused"))
        return {"version": {"number": "2.19.6"}}


class _RecordingStop(threading.Event):
    """Records the waits instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def test_wait_for_cluster_backs_off_exponentially_up_to_a_cap(caplog):
    client, stop = _FlakyClient(failures=8), _RecordingStop()
    with caplog.at_level(logging.WARNING, logger="enricher.cluster.client"):
        info = wait_for_cluster(client, OpenSearchConfig(), stop)
    assert info["version"]["number"] == "2.19.6"
    assert stop.waits == [1, 2, 4, 8, 16, 32, 60, 60]
    retries = [r for r in caplog.records if r.getMessage().startswith("OpenSearch not available")]
    assert [r.attempt for r in retries] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert "cannot reach OpenSearch" in retries[0].getMessage() and "retrying in 1 s" in retries[0].getMessage()


def test_wait_for_cluster_gives_up_when_stopped():
    stop = _RecordingStop()
    stop.set()
    assert wait_for_cluster(_FlakyClient(failures=100), OpenSearchConfig(), stop) is None


def test_unreachable_message_names_hosts_without_credentials():
    config = OpenSearchConfig(hosts=["http://admin:hunter2@127.0.0.1:9"], max_connection_retries=0)
    with pytest.raises(ClusterUnreachable) as error:
        check_cluster(make_client(config), config)
    assert "hunter2" not in str(error.value) and "***@127.0.0.1:9" in str(error.value)


def test_run_waits_for_opensearch_instead_of_exiting(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ENRICHER_OPENSEARCH__HOSTS": '["http://127.0.0.1:9"]',
           "ENRICHER_OPENSEARCH__MAX_CONNECTION_RETRIES": "0", "ENRICHER_LOG_FORMAT": "text",
           "ENRICHER_MODELS__REGISTRY": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-m", "enricher.cli.main", "run"], stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, env=env, text=True)
    try:
        retries = []
        for line in process.stderr:  # the first two attempts are 1 s apart
            if "OpenSearch not available" in line:
                retries.append(line)
            if len(retries) == 2:
                break
        assert process.poll() is None, "still running: waiting, not exited"
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    finally:
        process.kill()
    assert len(retries) == 2 and "attempt 1" in retries[0] and "retrying in" in retries[0]
    assert process.returncode == 0, "stopped by the signal while waiting"
