#!/usr/bin/env bash
# A standalone Flink 1.20 cluster on 127.0.0.1 for curate's Beam pipelines: one JobManager and
# two TaskManagers (separate JVMs, 2 slots each). Each TaskManager starts the Python SDK
# harnesses of the tasks it runs as its own child processes (Beam's PROCESS environment, with
# curate.sdk_boot in place of Beam's container boot program), so the Python work of a job runs
# in the cluster's workers, not in the submitting process.
#
#   scripts/flink_cluster.sh install   # Flink distribution from PyPI (hash-pinned) -> data/flink/
#   scripts/flink_cluster.sh start     # JobManager, 2 TaskManagers; waits until ready
#   scripts/flink_cluster.sh status    # processes and what the JobManager reports
#   scripts/flink_cluster.sh stop      # stops them all and checks that none is left
#   scripts/flink_cluster.sh args      # the Beam flags that submit to this cluster
#
# Submit with `curate run --config ... $(scripts/flink_cluster.sh args)`. `start` installs first
# when needed. Flink's web UI and REST API: http://127.0.0.1:8081.
#
# The distribution is assembled from two PyPI artifacts (Flink's own release files, as PyFlink
# ships them): apache-flink-libraries (sdist: lib/, opt/, plugins/) and the apache-flink
# wheel (bin/ scripts), both pinned by sha256 in scripts/flink/flink-dist.txt. The config is
# written here: everything bound to 127.0.0.1, 256 MB of TaskManager network memory (Beam's
# batch translation needs more buffers than the default 128 MB gives), a fixed-delay restart
# strategy (a killed TaskManager costs a restart, not the job), short heartbeats (a dead
# TaskManager is noticed in seconds), uncaught exceptions failing the TaskManager (an
# out-of-memory error in a gRPC thread then costs a restart instead of a hung job) and a job's
# slots spread over the TaskManagers (not all on the first one that has room).
#
# Environment: CURATE_DATA (default data/), CURATE_FLINK_RUN (pids, logs, config; default
# data/flink/run), FLINK_REST_PORT (8081), FLINK_RPC_PORT (6123), CURATE_TASKMANAGERS (2),
# CURATE_TASK_SLOTS (2), CURATE_TASKMANAGER_MEMORY (4096m), CURATE_FLINK_PARALLELISM (half the
# slots); native memory of the TaskManagers: CURATE_TM_MALLOC_ARENAS (2),
# CURATE_TM_MMAP_THRESHOLD (glibc's, bytes: 1048576), CURATE_TM_JAVA_OPTS (more JVM flags, e.g.
# -XX:NativeMemoryTracking=summary for `jcmd <pid> VM.native_memory summary`); of the SDK
# harnesses: MALLOC_MMAP_THRESHOLD_ (1048576).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA="${CURATE_DATA:-$ROOT/data}"
FLINK_VERSION=1.20.3
FLINK_HOME="$DATA/flink/flink-$FLINK_VERSION"
RUN="${CURATE_FLINK_RUN:-$DATA/flink/run}"  # pids, logs and the cluster's config
REST_PORT="${FLINK_REST_PORT:-8081}"
RPC_PORT="${FLINK_RPC_PORT:-6123}"
N_TM="${CURATE_TASKMANAGERS:-2}"
SLOTS="${CURATE_TASK_SLOTS:-2}"
# The Fn API data plane moves whole pair batches (a few MB each) through gRPC: at the default
# 2 GB process size (~570 MB task heap, no task off-heap) a TaskManager ran out of heap, then
# of direct memory (Netty's buffers), on 250K pairs. 4 GB with a quarter managed memory and
# 768 MB of task off-heap memory leaves ~1.7 GB of heap.
TM_MEMORY="${CURATE_TASKMANAGER_MEMORY:-4096m}"
# Half the slots: when a TaskManager dies, the other one still has the slots to restart the job.
PARALLELISM="${CURATE_FLINK_PARALLELISM:-$((N_TM * SLOTS / 2))}"
PY="$ROOT/.venv/bin/python"
export FLINK_PID_DIR="$RUN" FLINK_LOG_DIR="$RUN/log" FLINK_CONF_DIR="$RUN/conf"
log() { printf 'flink_cluster.sh: %s\n' "$*" >&2; }

install() {
  [[ -x "$FLINK_HOME/bin/jobmanager.sh" && -s "$FLINK_HOME/conf/config.yaml" ]] && return 0
  command -v unzip >/dev/null || { log "unzip is required"; exit 1; }
  local dl="$DATA/flink/dl" tmp
  mkdir -p "$dl"
  log "downloading Flink $FLINK_VERSION from PyPI (hash-checked, ~235 MB)"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
    -r scripts/flink/flink-dist.txt -d "$dl" --python-version 3.11 \
    --only-binary apache-flink --no-binary apache-flink-libraries >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  tar -xzf "$dl/apache-flink-libraries-$FLINK_VERSION.tar.gz" -C "$tmp"
  unzip -q -o "$dl"/apache_flink-"$FLINK_VERSION"-*.whl 'pyflink/bin/*' 'pyflink/conf/*' -d "$tmp"
  rm -rf "$FLINK_HOME.partial"
  mkdir -p "$FLINK_HOME.partial/bin" "$FLINK_HOME.partial/conf"
  local deps="$tmp/apache-flink-libraries-$FLINK_VERSION/deps"
  cp -r "$deps/lib" "$deps/plugins" "$deps/opt" "$FLINK_HOME.partial/"
  cp "$tmp"/pyflink/bin/* "$deps"/bin/* "$FLINK_HOME.partial/bin/"
  cp "$tmp"/pyflink/conf/* "$FLINK_HOME.partial/conf/"
  chmod +x "$FLINK_HOME.partial"/bin/*.sh "$FLINK_HOME.partial/bin/flink"
  rm -rf "$FLINK_HOME"
  mv "$FLINK_HOME.partial" "$FLINK_HOME"
  rm -rf "$dl"
  log "Flink $FLINK_VERSION in $FLINK_HOME"
}

write_config() {  # the cluster's config in $RUN/conf (FLINK_CONF_DIR), from the current settings
  local conf="$RUN/conf" opts
  mkdir -p "$conf"
  cp "$FLINK_HOME"/conf/log4j*.properties "$conf/"
  # Java 17 needs the module opens Flink's own config.yaml carries.
  opts=$(sed -n 's/^ *all: \(--add-exports.*\)$/\1/p' "$FLINK_HOME/conf/config.yaml")
  [[ -n "$opts" ]] || { log "no env.java.opts.all in $FLINK_HOME/conf/config.yaml"; exit 1; }
  local tm_opts=""
  [[ -n "${CURATE_TM_JAVA_OPTS:-}" ]] && tm_opts=$'\n'"      taskmanager: $CURATE_TM_JAVA_OPTS"
  echo "127.0.0.1:$REST_PORT" > "$conf/masters"
  echo 127.0.0.1 > "$conf/workers"
  cat > "$conf/config.yaml" <<EOF
# Written by scripts/flink_cluster.sh: a standalone cluster on 127.0.0.1 for curate.
env:
  java:
    opts:
      all: $opts$tm_opts
jobmanager:
  bind-host: 127.0.0.1
  rpc:
    address: 127.0.0.1
    port: $RPC_PORT
  memory:
    process:
      size: 1600m
  execution:
    failover-strategy: region
taskmanager:
  bind-host: 127.0.0.1
  host: 127.0.0.1
  numberOfTaskSlots: $SLOTS
  memory:
    process:
      size: $TM_MEMORY
    network:
      min: 256mb
      max: 256mb
    managed:
      fraction: 0.25
    task:
      off-heap:
        size: 768m
parallelism:
  default: 2
rest:
  address: 127.0.0.1
  bind-address: 127.0.0.1
  port: $REST_PORT
restart-strategy:
  type: fixed-delay
  fixed-delay:
    attempts: 5
    delay: 2 s
heartbeat:
  interval: 2000
  timeout: 8000
cluster:
  uncaught-exception-handling: FAIL
  evenly-spread-out-slots: true
EOF
}

write_boot() {  # what a TaskManager runs to start an SDK harness (PROCESS environment)
  cat > "$RUN/sdk-boot" <<EOF
#!/bin/sh
# Written by scripts/flink_cluster.sh: a TaskManager runs this with --id, --provision_endpoint
# and --semi_persist_dir to start one Python SDK harness (see curate/sdk_boot.py). The last
# argument marks the harness as this cluster's, so that stop can find any left behind.
echo "\$(date -u +%FT%TZ) pid \$\$ \$*" >> "$RUN/log/sdk-harnesses.log"
unset MALLOC_ARENA_MAX
export MALLOC_MMAP_THRESHOLD_=\${MALLOC_MMAP_THRESHOLD_:-1048576}
exec "$PY" -m curate.sdk_boot "\$@" --curate_flink_run=$RUN
EOF
  chmod +x "$RUN/sdk-boot"
}

rest() { curl -fsS --max-time 2 "http://127.0.0.1:$REST_PORT$1"; }

pids() {  # every pid this script started that is still alive
  local f p
  for f in "$RUN"/*.pid; do
    [[ -e "$f" ]] || continue
    while read -r p; do
      [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null && echo "$p"
    done < "$f"
  done
  return 0
}

start() {
  install
  if [[ -n "$(pids)" ]]; then log "already running (pids $(pids | tr '\n' ' '))"; return 0; fi
  command -v java >/dev/null || { log "java (a JRE 11 or 17) is required"; exit 1; }
  [[ -x "$PY" ]] || { log "$PY is missing: run scripts/setup.sh"; exit 1; }
  mkdir -p "$RUN/log"
  rm -f "$RUN"/*.pid
  write_config
  "$FLINK_HOME/bin/jobmanager.sh" start >/dev/null
  # Native memory: glibc gives a many-threaded process up to 8 malloc arenas per core, and
  # what is freed in one arena stays in the process's RSS. The TaskManagers (JVMs) get two
  # arenas, and they and the SDK harnesses (Python, see write_boot) a fixed 1 MB mmap
  # threshold: a freed large block (a numpy array; a Netty buffer of a gRPC message, which
  # the JVM allocates with malloc) goes back to the system instead of glibc raising the
  # threshold and keeping the next ones in its heap. At 3M pairs the TaskManagers' RSS rose
  # ~1 GB past what the JVM's native memory tracking accounted for in the last minutes of a
  # run with only the arenas capped; with the threshold fixed it stays within it
  # (docs/RUNNERS.md).
  for _ in $(seq "$N_TM"); do
    MALLOC_ARENA_MAX="${CURATE_TM_MALLOC_ARENAS:-2}" \
      MALLOC_MMAP_THRESHOLD_="${CURATE_TM_MMAP_THRESHOLD:-1048576}" \
      "$FLINK_HOME/bin/taskmanager.sh" start >/dev/null
  done
  write_boot
  local waited=0
  until [[ "$(rest /overview 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["taskmanagers"])' 2>/dev/null)" == "$N_TM" ]]; do
    sleep 1; waited=$((waited + 1))
    if (( waited > 90 )); then log "the cluster did not come up in 90 s; logs in $RUN/log"; stop; exit 1; fi
  done
  log "ready: JobManager http://127.0.0.1:$REST_PORT, $N_TM TaskManagers x $SLOTS slots"
}

stop() {
  [[ -x "$FLINK_HOME/bin/taskmanager.sh" ]] && {
    "$FLINK_HOME/bin/taskmanager.sh" stop-all >/dev/null 2>&1 || true
    "$FLINK_HOME/bin/jobmanager.sh" stop-all >/dev/null 2>&1 || true
  }
  local p left waited=0
  for p in $(pids); do kill "$p" 2>/dev/null || true; done
  while left=$(pids) && [[ -n "$left" ]]; do
    sleep 1; waited=$((waited + 1))
    if (( waited > 20 )); then for p in $left; do kill -9 "$p" 2>/dev/null || true; done; fi
    if (( waited > 25 )); then log "processes left: $left"; exit 1; fi
  done
  # SDK harnesses are the TaskManagers' children and end with them; one whose TaskManager was
  # killed (SIGKILL runs no shutdown hook) ends when its control channel closes. None may
  # outlive the cluster: they carry the run folder as a marker.
  waited=0
  while pgrep -f -- "--curate_flink_run=$RUN" >/dev/null; do
    pkill -f -- "--curate_flink_run=$RUN" 2>/dev/null || true
    sleep 1; waited=$((waited + 1))
    if (( waited > 10 )); then pkill -9 -f -- "--curate_flink_run=$RUN" 2>/dev/null || true; fi
    if (( waited > 15 )); then log "SDK harnesses left: $(pgrep -f -- "--curate_flink_run=$RUN" | tr '\n' ' ')"; exit 1; fi
  done
  rm -f "$RUN"/*.pid
}

status() {
  local p
  p=$(pids | tr '\n' ' ')
  if [[ -z "$p" ]]; then echo "stopped"; return 3; fi
  echo "running: pids $p"
  rest /overview || echo "(JobManager REST not answering)"
  echo
}

args() {
  local jar
  jar=$(bash scripts/flink_jobserver.sh)
  echo "--runner=FlinkRunner --flink_master=127.0.0.1:$REST_PORT --flink_version=1.20" \
    "--flink_job_server_jar=$jar --environment_type=PROCESS" \
    "--environment_config={\"command\":\"$RUN/sdk-boot\"} --parallelism=$PARALLELISM" \
    "--job_server_jvm_properties=-Xss16m"  # as curate.runners_flink.flink_args: deep plans
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  args) args ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
