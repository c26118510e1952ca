#!/usr/bin/env bash
# Start, stop and check Headwater's local services: Kafka (KRaft), Weaviate and Redis,
# all on 127.0.0.1, with data, logs and pid files under .cache/.
#
#   deploy/local/services.sh up|down|status [kafka|weaviate|redis ...]
#
# `up` is idempotent: a service this checkout started and that is healthy is left alone.
# `down` stops only processes whose pid files this checkout wrote; never by process name.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE="$ROOT/.cache"
HERE="$ROOT/deploy/local"

KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/kafka/pom.xml")
WEAVIATE_TAG=${WEAVIATE_TAG:-v1.39.0}
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
WEAVIATE_PORT=8080
WEAVIATE_GRPC_PORT=50051
REDIS_PORT=6379
START_TIMEOUT_S=${START_TIMEOUT_S:-90}

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_of() {  # the live pid recorded for service $1, or nothing
  local file="$CACHE/$1/$1.pid" pid
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# wait_until NAME LOGFILE CHECK...: poll CHECK until it succeeds, the process dies or time runs out.
wait_until() {
  local name=$1 logfile=$2; shift 2
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until "$@"; do
    if ! pid_of "$name" >/dev/null; then
      tail -n 30 "$logfile" >&2 || true
      die "$name exited during start-up; log: $logfile"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$logfile" >&2 || true
      die "$name not healthy after ${START_TIMEOUT_S}s; log: $logfile"
    fi
    sleep 0.5
  done
}

# already_up NAME PORT CHECK...: true when the service answers; fails clearly when the
# port is held by something that is not a healthy instance of it.
already_up() {
  local name=$1 port=$2; shift 2
  if pid_of "$name" >/dev/null; then
    wait_until "$name" "$CACHE/$name/logs/$name.log" "$@"
    log "$name already running (pid $(pid_of "$name"))"
    return 0
  fi
  if port_open "$port"; then
    "$@" || die "port $port is in use by a process that is not a healthy $name"
    log "$name already answering on 127.0.0.1:$port (not started by this checkout; left alone)"
    return 0
  fi
  return 1
}

start_detached() {  # start_detached NAME COMMAND...: run in the background, record the pid
  local name=$1; shift
  mkdir -p "$CACHE/$name/logs"
  nohup "$@" >>"$CACHE/$name/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$CACHE/$name/$name.pid"
}

# --- Kafka -------------------------------------------------------------------------------

kafka_jars() {
  local libs="$CACHE/kafka/libs" stamp="$CACHE/kafka/libs.stamp"
  mkdir -p "$CACHE/kafka"
  local want; want=$(sha256sum "$HERE/kafka/pom.xml" | cut -d' ' -f1)
  [[ -f $stamp && $(<"$stamp") == "$want" ]] && return 0
  log "fetching Kafka $KAFKA_VERSION jars with Maven"
  rm -rf "$libs"
  mvn -q -B -Dstyle.color=never -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs" >"$CACHE/kafka/mvn.log" 2>&1 ||
    die "mvn could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION; see $CACHE/kafka/mvn.log"
  echo "$want" >"$stamp"
}

KAFKA_JAVA=(java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$HERE/kafka/log4j2.properties"
  -Dkafka.logs.dir="$CACHE/kafka/logs"
  -cp "$CACHE/kafka/libs/*")

kafka_ready() { port_open "$KAFKA_PORT" && grep -q "Kafka Server started" "$CACHE/kafka/logs/server.log" 2>/dev/null; }
kafka_answers() { port_open "$KAFKA_PORT"; }

kafka_up() {
  # The jars first, even when a broker already answers: the outage tests start brokers of
  # their own from them.
  command -v java >/dev/null || die "java (17+) is required for Kafka"
  kafka_jars
  already_up kafka "$KAFKA_PORT" kafka_answers && return 0
  port_open "$KAFKA_CONTROLLER_PORT" && die "port $KAFKA_CONTROLLER_PORT (Kafka controller) is in use"
  mkdir -p "$CACHE/kafka/data" "$CACHE/kafka/logs"
  local config="$CACHE/kafka/server.properties"
  { cat "$HERE/kafka/server.properties"; echo "log.dirs=$CACHE/kafka/data"; } >"$config"
  if [[ ! -f $CACHE/kafka/data/meta.properties ]]; then
    log "formatting Kafka storage (KRaft)"
    "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format --ignore-formatted \
      -t "$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid)" -c "$config" >/dev/null
  fi
  : >"$CACHE/kafka/logs/server.log"
  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)"
  start_detached kafka "${KAFKA_JAVA[@]}" kafka.Kafka "$config"
  wait_until kafka "$CACHE/kafka/logs/server.log" kafka_ready
  log "kafka up"
}

# --- Weaviate ----------------------------------------------------------------------------

weaviate_binary() {
  local bin="$CACHE/bin/weaviate-server" stamp="$CACHE/bin/weaviate-server.version"
  [[ -x $bin && -f $stamp && $(<"$stamp") == "$WEAVIATE_TAG" ]] && return 0
  command -v go >/dev/null || die "go (1.26+) is required to build Weaviate"
  log "building Weaviate $WEAVIATE_TAG with go install (several minutes the first time)"
  mkdir -p "$CACHE/bin"
  GOBIN="$CACHE/bin" go install "github.com/weaviate/weaviate/cmd/weaviate-server@$WEAVIATE_TAG" ||
    die "go install github.com/weaviate/weaviate/cmd/weaviate-server@$WEAVIATE_TAG failed"
  echo "$WEAVIATE_TAG" >"$stamp"
}

weaviate_ready() {
  curl -fsS -o /dev/null "http://127.0.0.1:$WEAVIATE_PORT/v1/.well-known/ready" 2>/dev/null
}

weaviate_up() {
  weaviate_binary  # even when a Weaviate already answers: the outage tests start their own
  already_up weaviate "$WEAVIATE_PORT" weaviate_ready && return 0
  mkdir -p "$CACHE/weaviate/data"
  local auth=(AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true)
  if [[ -n ${HEADWATER_WEAVIATE_API_KEY:-} ]]; then
    auth=(AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=false
      AUTHENTICATION_APIKEY_ENABLED=true
      AUTHENTICATION_APIKEY_ALLOWED_KEYS="$HEADWATER_WEAVIATE_API_KEY"
      AUTHENTICATION_APIKEY_USERS=headwater)
  fi
  log "starting Weaviate $WEAVIATE_TAG on 127.0.0.1:$WEAVIATE_PORT (gRPC :$WEAVIATE_GRPC_PORT)"
  start_detached weaviate env \
    PERSISTENCE_DATA_PATH="$CACHE/weaviate/data" \
    DEFAULT_VECTORIZER_MODULE=none ENABLE_MODULES= \
    DISABLE_TELEMETRY=true QUERY_DEFAULTS_LIMIT=25 \
    GRPC_PORT="$WEAVIATE_GRPC_PORT" \
    CLUSTER_HOSTNAME=headwater-local CLUSTER_IN_LOCALHOST=true \
    CLUSTER_GOSSIP_BIND_PORT=7946 CLUSTER_DATA_BIND_PORT=7947 \
    RAFT_PORT=8300 RAFT_INTERNAL_RPC_PORT=8301 RAFT_BOOTSTRAP_EXPECT=1 \
    LIMIT_RESOURCES=true GOMAXPROCS=2 \
    "${auth[@]}" \
    "$CACHE/bin/weaviate-server" --host 127.0.0.1 --port "$WEAVIATE_PORT" --scheme http
  wait_until weaviate "$CACHE/weaviate/logs/weaviate.log" weaviate_ready
  log "weaviate up"
}

# --- Redis -------------------------------------------------------------------------------

redis_ready() { [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

redis_up() {
  if ! command -v redis-server >/dev/null; then
    [[ $(id -u) == 0 ]] || die "redis-server is missing: install Debian's redis-server package"
    log "installing Debian's redis-server"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } \
      >"$CACHE/apt-redis.log" 2>&1 || die "apt-get install redis-server failed; see $CACHE/apt-redis.log"
  fi
  already_up redis "$REDIS_PORT" redis_ready && return 0
  mkdir -p "$CACHE/redis/logs"
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  start_detached redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize no \
    --dir "$CACHE/redis" --save 60 1000 --appendonly no --protected-mode yes
  wait_until redis "$CACHE/redis/logs/redis.log" redis_ready
  log "redis up"
}

# --- stop and status ---------------------------------------------------------------------

service_down() {
  local name=$1 pid
  if ! pid=$(pid_of "$name"); then
    rm -f "$CACHE/$name/$name.pid"
    log "$name not running (started by this checkout)"
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 30s; killing it"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$CACHE/$name/$name.pid"
}

service_status() {
  local name=$1 pid
  if pid=$(pid_of "$name"); then log "$name: running (pid $pid)"; else log "$name: not running"; fi
}

main() {
  local action=${1:-}; shift || true
  local names=("$@")
  ((${#names[@]})) || names=(kafka weaviate redis)
  for name in "${names[@]}"; do
    case "$name" in kafka | weaviate | redis) ;; *) die "unknown service '$name'" ;; esac
    case "$action" in
      up) "${name}_up" ;;
      down) service_down "$name" ;;
      status) service_status "$name" ;;
      *) die "usage: $0 up|down|status [kafka|weaviate|redis ...]" ;;
    esac
  done
}

main "$@"
