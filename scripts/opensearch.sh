#!/usr/bin/env bash
# Fetch, start, wait for, and stop a local single-node OpenSearch for tests, benchmarks and the quickstart.
#
#   scripts/opensearch.sh start    fetch (once) and start; waits until the cluster is healthy
#   scripts/opensearch.sh stop     stop it cleanly
#   scripts/opensearch.sh status   say whether it runs, and its health
#   scripts/opensearch.sh url      print its URL
#   scripts/opensearch.sh modules  install the painless and mustache modules (also done by start)
#
# The minimal distribution comes from Maven Central through mvn (cached in ~/.m2); it is unpacked outside
# the repository, under $ENRICHER_OS_BASE (default /opt/log-enricher), because OpenSearch refuses to run
# as root and a service user cannot traverse /root. It binds to 127.0.0.1 only.
#
# The integ-test distribution has no scripting modules; the Alerting plugin (not on Maven Central) runs
# monitors with painless (trigger conditions, bucket selectors) and mustache (query templates). Both modules
# are on Maven Central, so they are installed into $OS_HOME/modules (on an existing install too; restart the
# node to load them), which lets the tests run every shipped monitor's query and trigger for real.
set -euo pipefail

OS_VERSION="${ENRICHER_OS_VERSION:-2.19.6}"
OS_PORT="${ENRICHER_OS_PORT:-9200}"
OS_TRANSPORT_PORT="${ENRICHER_OS_TRANSPORT_PORT:-9300}"
OS_HEAP="${ENRICHER_OS_HEAP:-1g}"
OS_BASE="${ENRICHER_OS_BASE:-/opt/log-enricher}"
OS_USER="${ENRICHER_OS_USER:-opensearch}"
OS_HOME="$OS_BASE/opensearch-$OS_VERSION"
OS_DATA="$OS_BASE/data-$OS_PORT"
OS_LOGS="$OS_BASE/logs-$OS_PORT"
OS_PIDFILE="$OS_BASE/opensearch-$OS_PORT.pid"
OS_URL="http://127.0.0.1:$OS_PORT"
ARTIFACT="org.opensearch.distribution.integ-test-zip:opensearch:$OS_VERSION:zip"
ANTLR_VERSION="${ENRICHER_ANTLR_VERSION:-4.13.1}"
ASM_VERSION="${ENRICHER_ASM_VERSION:-9.7}"
MUSTACHE_VERSION="${ENRICHER_MUSTACHE_JAVA_VERSION:-0.9.14}"

log() { echo "[opensearch] $*" >&2; }

java_home() {
  # 2.x needs the SecurityManager, which Java 24+ removed: 17 (or 21). 3.x needs Java 21 or newer.
  local candidate major="${OS_VERSION%%.*}"
  if [ "$major" -ge 3 ]; then
    for candidate in "${OPENSEARCH_JAVA_HOME:-}" /usr/lib/jvm/temurin-2[1-9]-jdk-* /usr/lib/jvm/java-2[1-9]-openjdk-*; do
      [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] && { echo "$candidate"; return 0; }
    done
    log "OpenSearch $OS_VERSION needs Java 21 or newer; none found: set OPENSEARCH_JAVA_HOME"; return 1
  fi
  for candidate in "${OPENSEARCH_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-* \
                   /usr/lib/jvm/temurin-17-jdk-* /usr/lib/jvm/java-21-openjdk-*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] && { echo "$candidate"; return 0; }
  done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing OpenJDK 17 (apt-get)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    for candidate in /usr/lib/jvm/java-17-openjdk-*; do
      [ -x "$candidate/bin/java" ] && { echo "$candidate"; return 0; }
    done
  fi
  log "no Java 17 found; set OPENSEARCH_JAVA_HOME"; return 1
}

fetch_zip() {
  local zip="$HOME/.m2/repository/org/opensearch/distribution/integ-test-zip/opensearch/$OS_VERSION/opensearch-$OS_VERSION.zip"
  if [ ! -f "$zip" ]; then
    command -v mvn >/dev/null || { log "mvn is needed to fetch OpenSearch"; return 1; }
    log "fetching $ARTIFACT from Maven Central"
    mvn -q dependency:get -Dartifact="$ARTIFACT" -Dtransitive=false >&2
  fi
  echo "$zip"
}

module_artifacts() {
  # The jars of one module folder, as group:artifact:version.
  case "$1" in
    lang-painless)
      echo "org.opensearch.plugin:lang-painless:$OS_VERSION org.opensearch.plugin:opensearch-scripting-painless-spi:$OS_VERSION" \
           "org.antlr:antlr4-runtime:$ANTLR_VERSION org.ow2.asm:asm:$ASM_VERSION org.ow2.asm:asm-util:$ASM_VERSION" \
           "org.ow2.asm:asm-tree:$ASM_VERSION org.ow2.asm:asm-commons:$ASM_VERSION org.ow2.asm:asm-analysis:$ASM_VERSION" ;;
    lang-mustache)
      echo "org.opensearch.plugin:lang-mustache-client:$OS_VERSION com.github.spullara.mustache.java:compiler:$MUSTACHE_VERSION" ;;
  esac
}

module_classname() {
  # 3.x renamed the modules' plugin classes (PainlessPlugin -> PainlessModulePlugin).
  local suffix=Plugin
  [ "${OS_VERSION%%.*}" -ge 3 ] && suffix=ModulePlugin
  case "$1" in
    lang-painless) echo "org.opensearch.painless.Painless$suffix" ;;
    lang-mustache) echo "org.opensearch.script.mustache.Mustache$suffix" ;;
  esac
}

module_policy() {
  # The permissions each module's code asks the SecurityManager for.
  case "$1" in
    lang-painless) cat <<'POLICY'
grant {
  // compiling scripts defines classes in a new class loader
  permission java.lang.RuntimePermission "createClassLoader";
  // allowlisted classes are looked up through the plugin's class loader
  permission java.lang.RuntimePermission "getClassLoader";
};
POLICY
      ;;
    lang-mustache) cat <<'POLICY'
grant {
  // mustache.java reads template values by reflection
  permission java.lang.reflect.ReflectPermission "suppressAccessChecks";
};
POLICY
      ;;
  esac
}

resolve_jars() {
  # ONE Maven resolve of the given artifacts (no transitive dependencies) into folder $1, through a
  # throw-away POM, so a fresh machine makes a single round of downloads.
  local into="$1"; shift
  local work; work="$(mktemp -d)"
  {
    echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
    echo '<groupId>local</groupId><artifactId>opensearch-modules</artifactId><version>1</version><dependencies>'
    local coord
    for coord in "$@"; do
      IFS=: read -r g a v <<<"$coord"
      echo "<dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version></dependency>"
    done
    echo '</dependencies></project>'
  } > "$work/pom.xml"
  local status=0
  mvn -q -f "$work/pom.xml" dependency:copy-dependencies -DoutputDirectory="$into" -DexcludeTransitive=true \
      -DincludeScope=runtime >&2 || status=$?
  rm -rf "$work"
  return $status
}

write_module() {
  # Module folder $1 from the jars in $2: the jars, plugin-descriptor.properties and plugin-security.policy.
  local name="$1" jars="$2" folder="$OS_HOME/modules/$1" coord file
  local staging; staging="$(mktemp -d "$OS_HOME/modules/.$name.XXXXXX")"
  for coord in $(module_artifacts "$name"); do
    IFS=: read -r _ a v <<<"$coord"
    file="$jars/$a-$v.jar"
    [ -f "$file" ] || { log "note: $a-$v.jar was not resolved; module $name not installed"; rm -rf "$staging"; return 0; }
    cp "$file" "$staging/"
  done
  cat > "$staging/plugin-descriptor.properties" <<PROPS
description=$name scripting module, installed by scripts/opensearch.sh from Maven Central
version=$OS_VERSION
name=$name
classname=$(module_classname "$name")
java.version=11
opensearch.version=$OS_VERSION
extended.plugins=
has.native.controller=false
PROPS
  module_policy "$name" > "$staging/plugin-security.policy"
  rm -rf "$folder"
  mv "$staging" "$folder"
  chmod 755 "$folder"
  log "installed module $name into $folder (restart the node to load it)"
}

install_modules() {
  # Idempotent: a module folder whose descriptor names this version's plugin class is left alone.
  [ -d "$OS_HOME/modules" ] || { log "no OpenSearch install at $OS_HOME; nothing to add modules to"; return 0; }
  local wanted=() name
  for name in lang-painless lang-mustache; do
    grep -qx "classname=$(module_classname "$name")" "$OS_HOME/modules/$name/plugin-descriptor.properties" 2>/dev/null \
      || wanted+=("$name")
  done
  [ ${#wanted[@]} -eq 0 ] && return 0
  command -v mvn >/dev/null || { log "note: mvn not found; scripting modules not installed"; return 0; }
  local jars; jars="$(mktemp -d)"
  local coords=()
  for name in "${wanted[@]}"; do coords+=($(module_artifacts "$name")); done
  log "resolving ${wanted[*]} for OpenSearch $OS_VERSION from Maven Central"
  if ! resolve_jars "$jars" "${coords[@]}"; then
    # Some artifact is missing for this version: try each module alone so the other still installs.
    log "note: not every module artifact resolved for OpenSearch $OS_VERSION; trying each module alone"
    for name in "${wanted[@]}"; do
      resolve_jars "$jars" $(module_artifacts "$name") || log "note: module $name is not available for $OS_VERSION; skipped"
    done
  fi
  for name in "${wanted[@]}"; do write_module "$name" "$jars"; done
  rm -rf "$jars"
}

let_service_user_traverse() {
  # The service user must reach $OS_BASE through every parent folder (mktemp -d makes 700 folders);
  # grant traversal (x, not read) where it is missing.
  local dir="$OS_BASE"
  while [ "$dir" != "/" ]; do
    if ! su -s /bin/sh "$OS_USER" -c "test -x '$dir'" 2>/dev/null; then
      log "letting $OS_USER traverse $dir (chmod o+x)"
      chmod o+x "$dir"
    fi
    dir="$(dirname "$dir")"
  done
}

run_as_service_user() {
  if [ "$(id -u)" = 0 ]; then
    su -s /bin/bash "$OS_USER" -c "$*"
  else
    bash -c "$*"
  fi
}

install() {
  if [ ! -x "$OS_HOME/bin/opensearch" ]; then
    local zip; zip="$(fetch_zip)"
    mkdir -p "$OS_BASE"
    log "unpacking into $OS_HOME"
    local staging; staging="$(mktemp -d "$OS_BASE/unpack.XXXXXX")"
    unzip -q "$zip" -d "$staging"
    mv "$staging/opensearch-$OS_VERSION" "$OS_HOME"
    rmdir "$staging"
  fi
  install_modules
  if [ "$(id -u)" = 0 ] && ! id "$OS_USER" >/dev/null 2>&1; then
    log "creating system user $OS_USER (OpenSearch refuses to run as root)"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$OS_USER"
  fi
  mkdir -p "$OS_DATA" "$OS_LOGS"
  cat > "$OS_HOME/config/opensearch.yml" <<YAML
cluster.name: log-enricher-local
node.name: local-$OS_PORT
network.host: 127.0.0.1
http.port: $OS_PORT
transport.port: $OS_TRANSPORT_PORT
discovery.type: single-node
path.data: $OS_DATA
path.logs: $OS_LOGS
# A shared, busy disk must not turn indices read-only mid-test: absolute, small watermarks.
cluster.routing.allocation.disk.watermark.low: 2gb
cluster.routing.allocation.disk.watermark.high: 1gb
cluster.routing.allocation.disk.watermark.flood_stage: 500mb
action.auto_create_index: true
YAML
  if [ "$(id -u)" = 0 ]; then
    chown -R "$OS_USER" "$OS_HOME" "$OS_DATA" "$OS_LOGS"
    chmod 755 "$OS_BASE"
    let_service_user_traverse
  fi
}

pid_running() {
  [ -f "$OS_PIDFILE" ] && kill -0 "$(cat "$OS_PIDFILE")" 2>/dev/null
}

health() {
  curl -fsS "$OS_URL/_cluster/health?wait_for_status=yellow&timeout=2s" 2>/dev/null
}

start() {
  if pid_running && health >/dev/null; then
    log "already running at $OS_URL"; return 0
  fi
  install
  local java_home; java_home="$(java_home)"
  log "starting OpenSearch $OS_VERSION at $OS_URL (heap $OS_HEAP, logs in $OS_LOGS)"
  [ "$(id -u)" = 0 ] && touch "$OS_PIDFILE" && chown "$OS_USER" "$OS_PIDFILE"
  run_as_service_user "OPENSEARCH_JAVA_HOME='$java_home' OPENSEARCH_JAVA_OPTS='-Xms$OS_HEAP -Xmx$OS_HEAP' \
    '$OS_HOME/bin/opensearch' -d -p '$OS_PIDFILE' >/dev/null 2>&1"
  local waited=0
  until health >/dev/null; do
    if [ $waited -ge 180 ]; then
      log "not healthy after ${waited}s; last log lines:"; tail -n 40 "$OS_LOGS"/*.log >&2 || true; return 1
    fi
    # (the pid file stays empty until the node has bootstrapped: slow on a busy machine, and on 3.x)
    if [ $waited -gt 5 ] && [ -s "$OS_PIDFILE" ] && ! pid_running; then
      log "the process exited; last log lines:"; tail -n 40 "$OS_LOGS"/*.log >&2 || true; return 1
    fi
    sleep 2; waited=$((waited + 2))
  done
  log "healthy after ${waited}s"
}

stop() {
  if ! pid_running; then log "not running"; rm -f "$OS_PIDFILE"; return 0; fi
  local pid; pid="$(cat "$OS_PIDFILE")"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { log "stopped"; rm -f "$OS_PIDFILE"; return 0; }; sleep 1; done
  log "did not stop in 60s; killing"; kill -9 "$pid" 2>/dev/null || true; rm -f "$OS_PIDFILE"
}

status() {
  if pid_running; then
    echo "running (pid $(cat "$OS_PIDFILE")) at $OS_URL"; health || true; echo
  else
    echo "not running"; return 3
  fi
}

case "${1:-}" in
  start) start ;;
  modules) install_modules ;;
  stop) stop ;;
  status) status ;;
  url) echo "$OS_URL" ;;
  *) echo "usage: $0 start|stop|status|url|modules" >&2; exit 2 ;;
esac
