"""A general, severity-labelled seed corpus of log messages, composed from templates and slot fillers.

Why: a handful of labelled log sources cannot teach *general* severity. Each source has its own
conventions and vocabulary, and a model trained on a few hundred distinct texts learns those instead of
the words that carry severity everywhere ("failed", "refused", "retrying", "out of memory"...). This
module writes a broad corpus from general software knowledge -- what INFO, WARNING, ERROR and CRITICAL
messages typically say in network stacks, storage, auth, web servers, databases, JVM/app runtimes,
kernels/hardware, schedulers, cloud/containers and mobile apps -- and training mixes it with the user's
own labelled data (which is weighted to dominate on the user's own texts).

It is written by hand from common log idioms (syslog, Java/Python/Go services, HTTP servers, databases,
Kubernetes, Android); it is *not* derived from any evaluation data set.

Conventions (the severity a typical operator would assign):
  * INFO     -- normal operation: started, stopped on request, connected, received, completed, listening,
                created, health check passed, counters (even "0 errors").
  * WARNING  -- degraded but working: retrying, slow, deprecated, high usage, falling back, recovered
                after a timeout, close to a limit, unexpected but ignored input.
  * ERROR    -- one operation failed: failed, exception, refused, denied, cannot, unable, invalid,
                error codes, HTTP 5xx, aborted request.
  * CRITICAL -- the process, node or data is at risk: fatal, panic, out of memory, kernel oops, data
                corruption, unrecoverable, shutting down because of an error, hardware failure, lost quorum.

Generation is deterministic for a given ``seed``; messages are distinct after normalisation
(:func:`enricher.classify.normalize.normalize_text`), so the corpus is not dominated by one template.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from enricher.classify.normalize import normalize_text

SEED_CORPUS_NAME = "general-severity-seed-v1"
SEVERITIES = ("INFO", "WARNING", "ERROR", "CRITICAL")

# --- slot fillers -------------------------------------------------------------------------------------------

_WORDS: dict[str, tuple[str, ...]] = {
    "svc": ("auth-service", "billing", "gateway", "api-server", "scheduler", "indexer", "worker", "notifier",
            "inventory", "search", "reporting", "ingest", "uploader", "cache-warmer", "mailer", "frontend",
            "session-manager", "metrics-agent", "sync-daemon", "backup-agent", "config-server", "router"),
    "daemon": ("sshd", "nginx", "httpd", "postgres", "mysqld", "redis-server", "kafka", "zookeeper", "etcd",
               "dockerd", "containerd", "kubelet", "systemd", "cron", "ntpd", "chronyd", "named", "dhclient",
               "rsyslogd", "haproxy", "envoy", "memcached", "elasticsearch", "rabbitmq", "consul", "vault"),
    "host": ("db-primary", "db-replica", "cache", "web", "app", "edge", "storage", "broker", "node", "worker",
             "backend", "ingest", "search", "queue", "auth", "build-agent"),
    "user": ("alice", "bob", "carol", "dave", "admin", "root", "deploy", "jenkins", "svc_backup", "guest",
             "operator", "www-data", "postgres", "test", "mallory", "erin"),
    "table": ("users", "accounts", "sessions", "invoices", "events", "customers", "products", "audit_log",
              "payments", "messages", "jobs", "metrics", "shipments", "profiles", "tokens", "comments"),
    "db": ("appdb", "analytics", "warehouse", "billing", "userstore", "catalog", "telemetry", "ledger"),
    "disk": ("sda", "sdb", "sdc", "nvme0n1", "nvme1n1", "vda", "xvdf", "md0", "dm-0"),
    "fs": ("ext4", "xfs", "btrfs", "zfs", "nfs"),
    "mount": ("/", "/var", "/data", "/home", "/var/log", "/tmp", "/srv", "/opt", "/mnt/backup"),
    "iface": ("eth0", "eth1", "ens3", "ens160", "enp0s3", "bond0", "wlan0", "docker0", "br0", "lo"),
    "queue": ("orders-events", "email-outbox", "ingest", "notifications", "retry", "dead-letter", "tasks",
              "audit", "webhooks", "thumbnails"),
    "topic": ("clicks", "payments", "logs", "metrics", "user-events", "audit", "sensor-data", "changes"),
    "job": ("nightly-backup", "report-daily", "etl-import", "cleanup", "reindex", "billing-run",
            "data-export", "log-rotate", "cert-renewal", "model-training", "sitemap-build", "vacuum"),
    "pod": ("api", "web", "worker", "redis", "postgres", "nginx", "scheduler", "ingest", "frontend"),
    "ns": ("default", "prod", "staging", "kube-system", "monitoring", "payments", "data"),
    "bucket": ("backups", "uploads", "static-assets", "logs-archive", "media", "exports", "artifacts"),
    "region": ("us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-west-2"),
    "cls": ("com.example.app.MainActivity", "com.example.app.SyncService", "org.acme.server.RequestHandler",
            "org.acme.cache.CacheManager", "io.acme.db.ConnectionPool", "com.example.auth.TokenValidator",
            "org.acme.jobs.JobRunner", "com.example.http.Client", "net.acme.queue.Consumer"),
    "activity": ("MainActivity", "LoginActivity", "SettingsActivity", "CheckoutActivity", "PlayerActivity",
                 "MapActivity", "ProfileFragment", "FeedFragment", "CameraActivity"),
    "app": ("com.example.mail", "com.example.music", "com.acme.maps", "com.acme.camera", "org.sample.notes",
            "com.example.fitness", "com.acme.chat", "com.example.weather"),
    "perm": ("CAMERA", "ACCESS_FINE_LOCATION", "READ_CONTACTS", "RECORD_AUDIO", "POST_NOTIFICATIONS"),
    "method": ("GET", "POST", "PUT", "DELETE", "PATCH"),
    "route": ("/api/v1/users", "/api/v2/items", "/login", "/health", "/metrics", "/api/search",
              "/static/app.js", "/upload", "/api/v1/reports", "/graphql", "/index.html", "/api/session"),
    "file": ("config.yaml", "settings.json", "app.properties", "cert.pem", "server.key", "data.db", "index.lock",
             "schema.sql", "model.bin", "users.csv", "nginx.conf", "service.env"),
    "dir": ("/etc/app", "/var/lib/app", "/opt/service", "/srv/data", "/home/deploy", "/var/spool", "/usr/share"),
    "proto": ("TCP", "UDP", "HTTP", "HTTPS", "gRPC", "TLS", "AMQP", "MQTT"),
    "cert_subject": ("api.example.com", "*.internal.example.org", "mail.example.net", "auth.example.com"),
    "lang_exc": ("IOException", "SocketTimeoutException", "SQLException", "NullPointerException",
                 "IllegalStateException", "IllegalArgumentException", "FileNotFoundException", "ValueError",
                 "KeyError", "ConnectionError", "TimeoutError", "PermissionError", "JSONDecodeError",
                 "ClassCastException", "NumberFormatException", "ConnectException", "UnknownHostException"),
    "fatal_exc": ("OutOfMemoryError", "StackOverflowError", "InternalError", "VirtualMachineError",
                  "MemoryError", "SystemError", "LinkageError"),
    "signal": ("SIGSEGV", "SIGBUS", "SIGABRT", "SIGILL", "SIGFPE"),
    "cpu": ("CPU0", "CPU1", "CPU2", "CPU3", "cpu 5", "cpu 12"),
    "dev": ("PCIe bus", "memory controller", "DIMM", "fan", "power supply", "RAID controller", "NIC",
            "GPU", "SATA link", "USB hub", "temperature sensor", "battery"),
    "errno": ("Connection refused", "Permission denied", "No such file or directory", "Connection reset by peer",
              "Broken pipe", "Operation timed out", "Network is unreachable", "No route to host",
              "Resource temporarily unavailable", "Invalid argument", "Host is down", "Bad file descriptor",
              "Address already in use", "Name or service not known"),
    "reason_warn": ("connection reset by peer", "timeout", "temporary failure in name resolution",
                    "server busy", "rate limited", "leader changed", "lock contention", "503 Service Unavailable",
                    "partial response", "stale cache"),
    "codec": ("gzip", "json", "protobuf", "utf-8", "avro"),
    "tenant": ("acme", "globex", "initech", "umbrella", "hooli", "stark"),
    "algo": ("SHA1", "TLSv1.0", "TLSv1.1", "MD5", "3DES"),
    "feature": ("legacy login endpoint", "v1 API", "old config format", "basic auth", "XML export",
                "sync mode", "implicit grant", "synchronous flush", "insecure cookies"),
    "resource": ("memory", "CPU", "disk", "heap", "swap", "inode", "file descriptor", "connection pool",
                 "thread pool", "bandwidth"),
    "limit_thing": ("connections", "open files", "threads", "requests per second", "queued messages",
                    "pending tasks", "sessions", "goroutines"),
}


def _number(low: int, high: int) -> Callable[[random.Random], str]:
    return lambda rng: str(rng.randint(low, high))


_GENERATED: dict[str, Callable[[random.Random], str]] = {
    "n": _number(1, 500),
    "big": _number(1000, 9_000_000),
    "ms": _number(1, 900),
    "slow_ms": _number(1500, 60_000),
    "sec": _number(1, 120),
    "pct": _number(1, 60),
    "hi_pct": _number(80, 98),
    "port": lambda rng: rng.choice(("22", "80", "443", "5432", "3306", "6379", "8080", "9092", "2181", "8443",
                                    str(rng.randint(1024, 65535)))),
    "ip": lambda rng: f"{rng.randint(10, 192)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    "pid": _number(100, 65000),
    "id": lambda rng: f"{rng.getrandbits(48):012x}",
    "code2": lambda rng: rng.choice(("200", "201", "204", "301", "302", "304")),
    "code4": lambda rng: rng.choice(("400", "401", "403", "404", "409", "422")),
    "code5": lambda rng: rng.choice(("500", "502", "503", "504")),
    "ver": lambda rng: f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
    "addr": lambda rng: f"0x{rng.getrandbits(40):010x}",
    "size": lambda rng: f"{rng.randint(1, 999)}{rng.choice(('KB', 'MB', 'GB'))}",
    "errcode": lambda rng: rng.choice((str(rng.randint(1, 9999)), f"E{rng.randint(100, 999)}",
                                       f"0x{rng.getrandbits(16):04x}", f"ERR-{rng.randint(10, 99)}")),
    "n_host": lambda rng: f"{rng.choice(_WORDS['host'])}-{rng.randint(1, 40)}",
}

_SLOT = re.compile(r"\{(\w+)\}")

# --- templates: class -> domain -> message patterns ---------------------------------------------------------

INFO_TEMPLATES: dict[str, tuple[str, ...]] = {
    "network": (
        "Connection established to {ip}:{port}",
        "Accepted connection from {ip}:{port}",
        "Listening on {ip}:{port}",
        "Interface {iface} is up, link speed {big} Mbps",
        "Link up on {iface}, full duplex",
        "Received {n} packets from {ip}",
        "Connected to {n_host} over {proto}",
        "DHCP lease obtained for {iface}: {ip}",
        "Route added: {ip} via {ip} dev {iface}",
        "Closed connection from {ip} after {ms} ms",
        "Peer {ip} joined the cluster",
        "DNS resolved {n_host} to {ip}",
        "Handshake completed with {ip} using {proto}",
        "Sent keepalive to {ip}:{port}",
        "Client {ip} disconnected normally",
    ),
    "storage": (
        "Mounted {disk} on {mount} ({fs})",
        "Filesystem {mount} check completed, no errors found",
        "Snapshot {id} created for volume {disk}",
        "Wrote {size} to {dir}/{file}",
        "Flushed {n} dirty pages to disk",
        "Backup of {mount} completed in {sec} s",
        "Compaction finished: {n} segments merged",
        "Disk {disk} usage {pct}%",
        "Block {id} replicated to {n_host}",
        "Opened file {dir}/{file} for reading",
        "Rotated log file {dir}/{file}",
        "Volume {disk} attached to instance {id}",
        "Scrub of pool completed with 0 errors",
        "Checkpoint written in {ms} ms",
    ),
    "auth": (
        "User {user} logged in from {ip}",
        "Accepted publickey for {user} from {ip} port {port}",
        "Session opened for user {user}",
        "Session closed for user {user}",
        "Password changed for user {user}",
        "Token issued for client {svc}, expires in {sec} minutes",
        "User {user} logged out",
        "New API key created for {user}",
        "Role admin granted to {user} by {user}",
        "Successful authentication for {user} via SSO",
        "Certificate for {cert_subject} renewed, valid for {n} days",
        "Loaded {n} access policies",
    ),
    "web": (
        "{method} {route} {code2} {ms} ms",
        "{ip} - - \"{method} {route} HTTP/1.1\" {code2} {big}",
        "Request completed: {method} {route} status={code2} duration={ms}ms",
        "Served {route} to {ip} in {ms} ms",
        "HTTP server started on port {port}",
        "Registered route {method} {route}",
        "Static assets compiled in {ms} ms",
        "Handled {n} requests in the last minute",
        "Websocket connection opened from {ip}",
        "Upstream {n_host}:{port} added to pool",
        "Redirecting {route} to {route}",
        "Response cached for {route}",
    ),
    "database": (
        "SELECT on {table} fetched {n} rows ({ms} ms)",
        "Connected to database {db} on {n_host}:{port}",
        "Transaction {id} committed",
        "Inserted {n} rows into {table}",
        "Index on {table} created in {ms} ms",
        "Migration {n} applied to {db}",
        "Vacuum of {table} finished, {n} pages reclaimed",
        "Replica {n_host} caught up with primary",
        "Database {db} opened in read-write mode",
        "Checkpoint complete: wrote {n} buffers",
        "Connection pool initialised with {n} connections",
        "Schema for {db} is up to date",
        "Updated {n} records in {table}",
    ),
    "runtime": (
        "Starting {svc} version {ver}",
        "{svc} started in {sec} seconds",
        "Application {svc} is ready to accept requests",
        "Loaded configuration from {dir}/{file}",
        "Initialized {cls} in {ms} ms",
        "GC pause {ms} ms, heap {pct}% used",
        "Worker thread {n} started",
        "Plugin {svc} registered",
        "Cache warmed with {big} entries",
        "Shutting down {svc} gracefully on request",
        "Stopped {svc} after {sec} s uptime",
        "Feature flag {feature} enabled for tenant {tenant}",
        "Reloaded configuration, {n} settings changed",
        "Exception handler registered for {cls}",
        "Health check passed for {svc}",
    ),
    "kernel": (
        "Linux version {ver} booting",
        "{cpu}: microcode updated",
        "Detected {n} CPUs, {big} MB memory",
        "{dev} initialised",
        "systemd: Started {svc}.service",
        "systemd: Reached target multi-user",
        "usb {n}-{n}: new high-speed USB device number {n}",
        "Loaded kernel module {svc}",
        "{daemon}[{pid}]: started",
        "NTP time synchronised with {ip}, offset {ms} ms",
        "Power supply {n} is operating normally",
        "Temperature {n} C on {cpu}, within limits",
    ),
    "scheduler": (
        "Job {job} started",
        "Job {job} completed successfully in {sec} s",
        "Task {n} of job {job} finished",
        "Scheduled {job} to run at {n}:00",
        "Submitted job {id} to queue {queue}",
        "Batch {n} processed: {n} succeeded, 0 failed",
        "Worker {n_host} registered with scheduler",
        "Assigned task {n} to executor {n}",
        "Stage {n} finished in {sec} s",
        "Consumed {n} messages from {queue}",
        "Published {n} events to topic {topic}",
        "Cron job {job} executed by {user}",
    ),
    "cloud": (
        "Pod {pod}-{id} scheduled on {n_host}",
        "Container {pod} started",
        "Pulled image {pod}:{ver} in {sec} s",
        "Deployment {svc} rolled out, {n} replicas available",
        "Scaled {svc} from {n} to {n} replicas",
        "Uploaded {size} to bucket {bucket} in {region}",
        "Instance {id} launched in {region}",
        "Load balancer health check healthy for {n_host}",
        "Service {svc} registered with discovery",
        "Leader elected: {n_host}",
        "Volume claim {svc}-data bound",
        "Readiness probe succeeded for {pod}",
    ),
    "mobile": (
        "{activity}: onCreate",
        "{activity}: onResume",
        "Displayed {app}/.{activity}: +{ms}ms",
        "Start proc {pid}:{app} for activity",
        "Notification posted by {app}",
        "Permission {perm} granted to {app}",
        "Sync finished for account {user}, {n} items",
        "Battery level {pct}%, charging",
        "Wi-Fi connected to network, signal {n} dBm",
        "Screen turned on",
        "Location update received, accuracy {n} m",
        "Installed package {app} version {ver}",
    ),
}

WARNING_TEMPLATES: dict[str, tuple[str, ...]] = {
    "network": (
        "Connection to {ip}:{port} timed out, retrying in {sec} s",
        "Retrying connection to {n_host} (attempt {n} of {n})",
        "Packet loss {pct}% on {iface}",
        "High latency to {ip}: {slow_ms} ms",
        "Connection reset by peer {ip}, reconnecting",
        "DNS lookup for {n_host} slow ({slow_ms} ms), using cached address",
        "Link flapping on {iface}",
        "Falling back to {proto} after handshake timeout with {ip}",
        "Dropped {n} packets on {iface}: receive buffer full",
        "Peer {ip} not responding to heartbeat, will retry",
        "Duplicate address detected on {iface}",
        "Keepalive timeout for {ip}, connection recovered",
        "Interface {iface} is running at reduced speed",
    ),
    "storage": (
        "Disk {disk} usage at {hi_pct}%",
        "Filesystem {mount} is {hi_pct}% full",
        "Low disk space on {mount}: {size} left",
        "Slow I/O on {disk}: {slow_ms} ms average latency",
        "SMART: {disk} reallocated sector count increased to {n}",
        "Write to {disk} took {slow_ms} ms, above threshold",
        "Replication of block {id} is behind by {n} seconds",
        "Inode usage on {mount} at {hi_pct}%",
        "Backup of {mount} took longer than expected ({sec} minutes)",
        "Volume {disk} approaching quota, {hi_pct}% used",
        "Under-replicated blocks: {n}",
        "Temporary file {dir}/{file} could not be removed, will retry later",
    ),
    "auth": (
        "Failed login attempt for user {user} from {ip}, {n} attempts remaining",
        "Password for {user} expires in {n} days",
        "Certificate for {cert_subject} expires in {n} days",
        "Deprecated algorithm {algo} negotiated with {ip}",
        "Token for {user} close to expiry, refreshing",
        "Account {user} has not changed its password in {n} days",
        "Unusual login location for {user}: {ip}",
        "Session for {user} idle for {sec} minutes",
        "Rate limit approaching for API key of {user}",
        "Weak password policy configured for tenant {tenant}",
        "Clock skew of {sec} s detected while validating token",
    ),
    "web": (
        "Slow request: {method} {route} took {slow_ms} ms",
        "{method} {route} {code4} {ms} ms",
        "Request to {route} exceeded soft timeout ({slow_ms} ms)",
        "Upstream {n_host} responded slowly, {slow_ms} ms",
        "Client {ip} rate limited on {route}",
        "Deprecated endpoint {route} called by {ip}",
        "Response size for {route} is {size}, consider pagination",
        "Retrying upstream request to {n_host} after {reason_warn}",
        "Request queue length {big}, above warning threshold",
        "Missing header X-Request-Id, generated one",
        "Ignoring malformed cookie from {ip}",
    ),
    "database": (
        "Slow query detected ({slow_ms} ms): SELECT from {table}",
        "Query on {table} did not use an index, full scan of {big} rows",
        "Replication lag on {n_host} is {sec} seconds",
        "Connection pool for {db} nearly exhausted ({n} of {n} in use)",
        "Deadlock detected on {table}, retrying transaction",
        "Lock wait on {table} exceeded {slow_ms} ms",
        "Checkpoints are occurring too frequently ({sec} seconds apart)",
        "Table {table} has {big} dead tuples, autovacuum recommended",
        "Long-running transaction {id} open for {sec} minutes",
        "Reconnecting to database {db} after connection loss",
        "Statement timeout approaching for query on {table}",
    ),
    "runtime": (
        "Using deprecated {feature}; it will be removed in {ver}",
        "GC pause of {slow_ms} ms exceeded target",
        "Heap usage at {hi_pct}%",
        "Thread pool saturated, {n} tasks queued",
        "Configuration key {svc}.timeout not set, using default {sec} s",
        "Falling back to default configuration: {file} not found",
        "{svc} is responding slowly, circuit breaker half-open",
        "Retrying call to {svc} ({n}/{n})",
        "Cache miss rate {hi_pct}%, consider a larger cache",
        "Unknown option {svc}.{file} ignored",
        "Task took {slow_ms} ms, longer than the {ms} ms budget",
        "Recovered after timeout calling {svc}",
        "Event loop blocked for {slow_ms} ms",
    ),
    "kernel": (
        "{cpu}: temperature above threshold, cpu clock throttled",
        "Fan {n} speed low: {big} RPM",
        "{dev}: correctable ECC error detected, corrected",
        "TCP: possible SYN flooding on port {port}. Sending cookies",
        "clocksource unstable, switching to hpet",
        "Memory usage {hi_pct}%, swap in use",
        "{daemon}[{pid}]: service restarted after unexpected exit, restart {n} of {n}",
        "nf_conntrack: table nearly full",
        "Battery low: {pct}% remaining",
        "hung task warning: {daemon} blocked for more than {sec} seconds",
        "Power supply {n} redundancy lost, running on one unit",
    ),
    "scheduler": (
        "Job {job} is running longer than expected ({sec} minutes)",
        "Task {n} of job {job} failed, retrying (attempt {n})",
        "Queue {queue} backlog is {big} messages",
        "Executor {n} lost heartbeat, rescheduling its tasks",
        "Job {job} skipped: previous run still in progress",
        "Consumer lag on topic {topic} is {big} messages",
        "Worker {n_host} is overloaded, throttling new tasks",
        "Speculative execution launched for slow task {n}",
        "Job {job} completed with {n} warnings",
        "Message redelivered from {queue} after visibility timeout",
    ),
    "cloud": (
        "Pod {pod}-{id} restarted {n} times",
        "Readiness probe failed for {pod}, will retry",
        "Node {n_host} has memory pressure",
        "Container {pod} is close to its memory limit ({hi_pct}%)",
        "Throttling: request to {region} API rate limited, backing off {sec} s",
        "Image {pod}:latest uses a mutable tag",
        "Autoscaler could not add node in {region}, retrying",
        "Spot instance {id} scheduled for interruption",
        "Back-off pulling image {pod}:{ver}",
        "Service {svc} has only {n} healthy endpoint left",
        "Upload to bucket {bucket} slow, {slow_ms} ms",
    ),
    "mobile": (
        "Skipped {n} frames! The application may be doing too much work on its main thread",
        "{activity}: slow rendering, frame took {ms} ms",
        "Battery low, {pct}% remaining",
        "Network unavailable, sync postponed",
        "Permission {perm} not granted, feature disabled",
        "{app} is using a deprecated API",
        "Background execution limited for {app}",
        "Location accuracy degraded to {big} m",
        "Low memory, trimming caches of {app}",
        "Weak Wi-Fi signal ({n} dBm), switching to mobile data",
    ),
}

ERROR_TEMPLATES: dict[str, tuple[str, ...]] = {
    "network": (
        "Failed to connect to {ip}:{port}: {errno}",
        "connect() to {ip}:{port} failed ({errno})",
        "Unable to resolve host {n_host}",
        "Connection to {n_host} refused",
        "Socket error on {ip}:{port}: {errno}",
        "TLS handshake with {ip} failed: certificate verify failed",
        "Could not bind to port {port}: Address already in use",
        "Request to {n_host} failed after {n} retries",
        "Error reading from socket: {errno}",
        "Interface {iface} went down unexpectedly",
        "No route to host {ip}",
        "Protocol error from {ip}: invalid frame",
    ),
    "storage": (
        "Failed to write {dir}/{file}: No space left on device",
        "I/O error on {disk}, sector {big}",
        "Cannot open {dir}/{file}: {errno}",
        "Unable to mount {disk} on {mount}",
        "Read error on {disk}: medium error",
        "Checksum mismatch for block {id}, fetching from replica",
        "Failed to create snapshot of {disk}",
        "Backup of {mount} failed: {errno}",
        "Error deleting {dir}/{file}: {errno}",
        "Could not lock {dir}/{file}: resource busy",
        "Upload to bucket {bucket} failed with status {code5}",
        "Quota exceeded for {dir}",
    ),
    "auth": (
        "Authentication failed for user {user} from {ip}",
        "Failed password for invalid user {user} from {ip} port {port}",
        "Permission denied for {user} on {dir}/{file}",
        "Access denied for user {user} to database {db}",
        "Invalid token presented by client {svc}",
        "User {user} is not authorized to {method} {route}",
        "Signature verification failed for request from {ip}",
        "Account {user} locked after {n} failed attempts",
        "LDAP bind failed: invalid credentials",
        "Certificate for {cert_subject} has expired",
        "Could not load private key {dir}/{file}",
    ),
    "web": (
        "{method} {route} {code5} {ms} ms",
        "{ip} - - \"{method} {route} HTTP/1.1\" {code5} {n}",
        "Internal server error while handling {method} {route}",
        "Upstream {n_host} returned {code5} for {route}",
        "Error processing request {id}: {lang_exc}",
        "Remote API responded with error code {errcode} to request {id}",
        "Request {id} aborted: client closed connection",
        "Template rendering failed for {route}",
        "Invalid JSON in request body from {ip}",
        "Gateway timeout calling {n_host} for {route}",
        "Unhandled exception in handler for {route}",
        "API call to {svc} returned error {errcode}",
    ),
    "database": (
        "Query on {table} failed: syntax error at or near {n}",
        "Could not connect to database {db}: {errno}",
        "Duplicate key value violates unique constraint on {table}",
        "Transaction {id} rolled back: {lang_exc}",
        "Deadlock detected, transaction {id} aborted",
        "Error executing statement on {table}: {lang_exc}",
        "Foreign key violation on {table}",
        "Lock wait timeout exceeded on {table}; transaction failed",
        "Replication from {n_host} stopped: error {errcode}",
        "Migration {n} failed on {db}",
        "Too many connections to {db}, connection rejected",
        "Table {table} does not exist",
    ),
    "runtime": (
        "Exception in thread worker-{n}: {lang_exc}",
        "{cls}: caught {lang_exc} while processing {id}",
        "Unhandled {lang_exc}: {errno}",
        "Traceback (most recent call last): {lang_exc}",
        "Failed to load plugin {svc}: {lang_exc}",
        "Invalid configuration value for {svc}.timeout",
        "Error parsing {dir}/{file}: unexpected token at line {n}",
        "Task {id} failed with exit code {n}",
        "Call to {svc} failed: {lang_exc}",
        "Could not decode {codec} payload from {svc}",
        "{svc} returned an error: {errno}",
        "Failed to send email to {user}: {errno}",
        "Validation error: field id is invalid",
    ),
    "kernel": (
        "{daemon}[{pid}]: error: {errno}",
        "{dev}: uncorrectable error reported, device reset",
        "ata{n}: failed command: READ FPDMA QUEUED",
        "Buffer I/O error on device {disk}, logical block {big}",
        "{daemon}.service: Failed with result exit-code",
        "Failed to start {svc}.service",
        "segfault at {addr} ip {addr} in {daemon}",
        "{cpu}: machine check event logged, corrected by retry failed",
        "Out of socket memory on {iface}",
        "{dev} not responding, request failed",
        "usb {n}-{n}: device descriptor read error",
    ),
    "scheduler": (
        "Job {job} failed with exit code {n}",
        "Task {n} of job {job} failed after {n} attempts",
        "Executor {n} on {n_host} exited with error",
        "Failed to submit job {job}: queue {queue} rejected it",
        "Message from {queue} moved to dead-letter queue after {n} failures",
        "Cron job {job} failed: {errno}",
        "Unable to acquire lock for job {job}",
        "Stage {n} failed: {lang_exc}",
        "Worker {n_host} crashed while running task {n}",
        "Could not publish to topic {topic}: broker unavailable",
    ),
    "cloud": (
        "Pod {pod}-{id} failed: CrashLoopBackOff",
        "Failed to pull image {pod}:{ver}: not found",
        "Container {pod} exited with code {n}",
        "Liveness probe failed for {pod}, container will be restarted",
        "Deployment {svc} failed to progress",
        "Access denied writing to bucket {bucket}",
        "Instance {id} failed status check",
        "Could not attach volume to instance {id}",
        "Error calling {region} API: {code5}",
        "Failed to mount volume for pod {pod}-{id}",
        "Scheduling failed: insufficient memory for pod {pod}",
    ),
    "mobile": (
        "Failed to load image from network: {lang_exc}",
        "{activity}: error inflating layout",
        "Sync failed for account {user}: {errno}",
        "Could not open camera: device busy",
        "Failed to bind to service {app}",
        "{app}: Unable to start activity {activity}: {lang_exc}",
        "Purchase request failed with error code {errcode}",
        "Database error in {app}: unable to open database file",
        "Push registration failed: invalid sender",
        "ANR in {app} ({activity}): input dispatching timed out",
    ),
}

CRITICAL_TEMPLATES: dict[str, tuple[str, ...]] = {
    "network": (
        "All uplinks down, host isolated from network",
        "Cluster lost quorum: {n} of {n} members unreachable",
        "Network partition detected, node fencing itself",
        "Fatal: cannot bind to any interface, exiting",
        "Split brain detected between {n_host} and {n_host}",
        "NIC {iface} hardware failure, adapter disabled",
        "Fatal TLS error: private key does not match certificate, server cannot start",
    ),
    "storage": (
        "Data corruption detected in {dir}/{file}",
        "Filesystem {mount} remounted read-only due to errors",
        "RAID array md0 failed: {n} disks missing",
        "Disk {disk} failed, array degraded beyond redundancy",
        "Unrecoverable read error on {disk}, data lost",
        "Journal corrupted on {disk}, aborting journal",
        "EXT4-fs error: {disk} structure needs cleaning, filesystem panic",
        "Metadata corruption in pool, refusing to import",
        "SMART failure predicted on {disk}: replace immediately",
        "Lost all replicas of block {id}",
    ),
    "auth": (
        "Security breach detected: root login from unknown host {ip}",
        "Private key {dir}/{file} compromised, all sessions revoked",
        "Integrity check failed: system binary {dir}/{file} modified",
        "Fatal: keystore is corrupted, cannot start authentication service",
        "Emergency: audit log tampering detected",
        "Master key unavailable, secrets store sealed",
    ),
    "web": (
        "Fatal error: server cannot start, configuration invalid",
        "Emergency: all backend servers are down",
        "Worker process {pid} exited on signal {signal}, server shutting down",
        "Fatal: unable to allocate memory for request buffers",
        "Service unavailable: all upstreams failed, site down",
        "Master process crashed, no workers left",
    ),
    "database": (
        "FATAL: database system is shutting down due to unrecoverable error",
        "PANIC: could not write to write-ahead log: No space left on device",
        "Database {db} is corrupted, page checksum mismatch in {table}",
        "Fatal: data directory {dir} has invalid permissions, cannot start",
        "Replication broken, primary and replica diverged: data loss possible",
        "InnoDB: database page corruption on disk, forcing recovery",
        "Database {db} crashed, restart required",
        "Could not recover transaction log, database will not start",
    ),
    "runtime": (
        "Fatal exception in main thread: {fatal_exc}",
        "java.lang.{fatal_exc}: Java heap space",
        "Out of memory: cannot allocate {size}, aborting",
        "Unrecoverable error in {svc}, shutting down",
        "Process {pid} terminated by signal {signal}",
        "Fatal: {svc} cannot continue after {lang_exc}, exiting",
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "fatal error: concurrent map writes",
        "Segmentation fault (core dumped) in {svc}",
        "Aborting: internal invariant violated in {cls}",
        "{svc} shutting down due to fatal error",
        "Emergency shutdown of {svc} initiated",
    ),
    "kernel": (
        "Kernel panic - not syncing: Fatal exception",
        "Out of memory: Killed process {pid} ({daemon})",
        "BUG: unable to handle kernel NULL pointer dereference at {addr}",
        "kernel oops in module {svc}",
        "{cpu}: Machine Check Exception: uncorrectable memory error",
        "{dev} failure: system halted",
        "CPU temperature critical ({n} C), shutting down",
        "Hardware error: uncorrectable ECC error on DIMM {n}",
        "watchdog: BUG: soft lockup - {cpu} stuck for {sec}s",
        "Power supply failure, system running on battery, shutting down",
        "rcu_sched self-detected stall on {cpu}",
        "Fatal hardware error, node will reboot",
    ),
    "scheduler": (
        "Scheduler crashed: state store corrupted",
        "All workers lost, cluster cannot run jobs",
        "Fatal: job queue {queue} lost {big} messages",
        "Master node down, no standby available",
        "Job history database corrupted, scheduler halted",
        "Coordinator fatal error, aborting all running jobs",
    ),
    "cloud": (
        "Node {n_host} NotReady: kubelet stopped posting status",
        "Control plane unreachable, cluster is down",
        "etcd cluster unavailable: data loss risk",
        "Region {region} outage: all instances unreachable",
        "OOMKilled: container {pod} in namespace {ns} exceeded memory limit and was killed",
        "Persistent volume for {pod} lost, data unrecoverable",
        "Fatal: node out of disk, evicting all pods",
    ),
    "mobile": (
        "FATAL EXCEPTION: main process {app}",
        "Fatal signal 11 ({signal}), code 1, fault addr {addr} in {app}",
        "{app} crashed: java.lang.{fatal_exc}",
        "System server died, restarting device",
        "Out of memory: killing {app} (adj {n})",
        "Native crash in {app}: abort message 'heap corruption detected'",
        "Device overheating, emergency shutdown",
    ),
}

DOMAINS = ("network", "storage", "auth", "web", "database", "runtime", "kernel", "scheduler", "cloud", "mobile")

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "INFO": INFO_TEMPLATES,
    "WARNING": WARNING_TEMPLATES,
    "ERROR": ERROR_TEMPLATES,
    "CRITICAL": CRITICAL_TEMPLATES,
}

# Prefixes that real log lines often carry before the message; they vary the surface form, not the severity.
_PREFIXES: tuple[str, ...] = ("", "", "", "", "[{svc}] ", "{daemon}[{pid}]: ", "{cls}: ", "{svc}: ",
                              "{n_host} {daemon}: ", "[worker-{n}] ", "{svc} | ")


@dataclass(frozen=True, slots=True)
class SeedMessage:
    text: str
    label: str
    domain: str


def _fill(pattern: str, rng: random.Random) -> str:
    def value(match: re.Match[str]) -> str:
        slot = match.group(1)
        if slot in _GENERATED:
            return _GENERATED[slot](rng)
        if slot in _WORDS:
            return rng.choice(_WORDS[slot])
        raise KeyError(f"seed corpus template uses unknown slot {{{slot}}}")

    return _SLOT.sub(value, pattern)


def generate_seed_corpus(per_class: int = 1000, seed: int = 0) -> list[SeedMessage]:
    """About ``per_class`` messages per severity, distinct after normalisation, deterministic for ``seed``.

    Templates are visited round-robin so every domain and pattern is represented; each visit fills the
    slots at random and adds a surface prefix now and then. A class stops early when its templates cannot
    produce more distinct normalised texts (many patterns only vary in masked numbers).
    """
    rng = random.Random(seed)
    corpus: list[SeedMessage] = []
    for label in SEVERITIES:
        patterns = [(domain, p) for domain, group in TEMPLATES[label].items() for p in group]
        seen: set[str] = set()
        attempts = 0
        while len(seen) < per_class and attempts < 40 * per_class:
            domain, pattern = patterns[attempts % len(patterns)]
            attempts += 1
            text = _fill(rng.choice(_PREFIXES) + pattern, rng)
            key = normalize_text(text)
            if key in seen:
                continue
            seen.add(key)
            corpus.append(SeedMessage(text, label, domain))
    return corpus


def seed_corpus(per_class: int = 1000, seed: int = 0) -> tuple[list[str], list[str]]:
    """The seed corpus as parallel lists (texts, labels), ready for training."""
    messages = generate_seed_corpus(per_class, seed)
    return [m.text for m in messages], [m.label for m in messages]
