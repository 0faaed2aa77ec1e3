#!/usr/bin/env bash
# side_by_side.sh — measure our server beside Synapse and beside the limits,
# on this machine, in one run, and print the Markdown tables of docs/benchmarks.md.
#
#   benches/side_by_side.sh [options]          (from anywhere; ~15 min with the defaults)
#
# What it measures, each figure RUNS times (median reported), each after the
# machine has been quiet for 2 s (or QUIET_MAX s have passed: then it says so):
#   (a) our server: release build, rate limits off, a fresh SQLite database in
#       a temp dir, default argon2; a fresh process per scenario (its RSS peak
#       is that scenario's), on a database holding USERS registered accounts
#   (b) Synapse via ../shared/bench/synapse_peer.sh (rate limits off; skipped
#       with a notice when that file is absent or its install fails)
#   (c) the limit server of the bench binary: bare hyper, answering the same
#       whoami GET with a fixed body (`static` scenario)
#   (e) with --baseline BIN, an earlier build of our server (e.g. of the
#       previous commit), the same scenarios: before and after in one run
#   (d) the argon2id hash rate on all cores with the server's parameters
#   (f) with --postgres URL, our server on a fresh PostgreSQL database of
#       that server ("postgres"), and two instances of it on one database
#       with the connections spread over both ("postgres×2")
#   plus our process start → first answered /versions (median of 5), and
#   whoami/login with SIZES accounts seeded straight into SQLite.
#
# Options (environment variables of the same name in capitals work too):
#   --duration S          measured window per run            [10]
#   --warmup S            unmeasured load before it          [2]
#   --runs N              runs per figure, median reported   [3]
#   --concurrency N       connections, cheap scenarios       [64]
#   --hash-concurrency N  connections, login and register    [16]
#   --users N             accounts registered for login/whoami/3pid [32]
#   --threads N           load generator threads             [1]
#   --servers "LIST"      of ours synapse hyper baseline postgres postgres2
#                         [all; postgres ones only with --postgres]
#   --postgres URL        a PostgreSQL server whose user may create databases
#                         (tests/postgres/cluster.sh start prints one)
#   --baseline BIN        the earlier matrix-accounts binary ("baseline")
#   --scenarios "LIST"    of whoami threepid_list mixed login register [all five]
#   --sizes "LIST"        database sizes for the size comparison, "" to skip [1000 1000000]
#   --out DIR             results, logs and report           [target/side_by_side/DATE]
#   --no-build            use the binaries as built
#   --quiet-busy PCT      "quiet" = at most this % of all CPUs busy [20]
#   --quiet-max S         wait at most this long for quiet    [30]
# Ports (127.0.0.1 only): PORT_OURS 18008, PORT_HYPER 18010, PORT_SYNAPSE 18012.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
RUNS="${RUNS:-3}"
CONCURRENCY="${CONCURRENCY:-64}"
HASH_CONCURRENCY="${HASH_CONCURRENCY:-16}"
USERS="${USERS:-32}"
THREADS="${THREADS:-1}"
POSTGRES="${POSTGRES:-}"
SERVERS="${SERVERS:-ours synapse hyper baseline postgres postgres2}"
BASELINE="${BASELINE:-}"
SCENARIOS="${SCENARIOS:-whoami threepid_list mixed login register}"
SIZES="${SIZES-1000 1000000}"
OUT="${OUT:-target/side_by_side/$(date +%Y%m%d-%H%M%S)}"
BUILD="${BUILD:-1}"
QUIET_BUSY="${QUIET_BUSY:-20}"
QUIET_MAX="${QUIET_MAX:-30}"
PORT_OURS="${PORT_OURS:-18008}"
PORT_HYPER="${PORT_HYPER:-18010}"
PORT_SECOND="${PORT_SECOND:-18014}"
PORT_SYNAPSE="${PORT_SYNAPSE:-18012}"
PEER="../shared/bench/synapse_peer.sh"
PASSWORD="bench-Passw0rd"

while (($#)); do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --hash-concurrency) HASH_CONCURRENCY="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --servers) SERVERS="$2"; shift 2 ;;
    --postgres) POSTGRES="$2"; shift 2 ;;
    --baseline) BASELINE="$2"; shift 2 ;;
    --scenarios) SCENARIOS="$2"; shift 2 ;;
    --sizes) SIZES="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --quiet-busy) QUIET_BUSY="$2"; shift 2 ;;
    --quiet-max) QUIET_MAX="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
RESULTS="$OUT/results.jsonl"
LOG="$OUT/run.log"
: > "$RESULTS"
TMP="$(mktemp -d /tmp/side_by_side.XXXXXX)"
STARTED=()          # pids of the processes this script started
SYNAPSE_STARTED=0

log() { echo "[side_by_side] $*" | tee -a "$LOG" >&2; }
json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
note() { log "NOTE: $*"; printf '{"kind":"note","text":%s}\n' "$(json_string "$*")" >> "$RESULTS"; }
wants() { [[ " $1 " == *" $2 "* ]]; }

cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  if ((SYNAPSE_STARTED)); then SYNAPSE_PORT="$PORT_SYNAPSE" bash "$PEER" stop >>"$LOG" 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- building -----------------------------------------------------------------
if ((BUILD)); then
  log "building the server (release) and the bench binary"
  cargo build --release --bin matrix-accounts 2>&1 | tail -n 3 >&2
fi
SERVER="$REPO/target/release/matrix-accounts"
if ((BUILD)); then
  LOAD="$(cargo bench --bench load --no-run --message-format=json 2>>"$LOG" \
    | grep '"kind":\["bench"\]' | grep '"name":"load"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
else
  LOAD="$(find "$REPO/target/release/deps" -maxdepth 1 -type f -name 'load-*' -perm -u+x -printf '%T@ %p\n' 2>/dev/null \
    | sort -nr | head -n 1 | cut -d' ' -f2-)"
fi
[[ -x "$SERVER" && -x "$LOAD" ]] || { log "missing $SERVER or the bench binary ($LOAD)"; exit 1; }

# --- helpers --------------------------------------------------------------------
# Percentage of all CPUs busy over one second, from /proc/stat.
cpu_busy() {
  local _ u n s i w q sq st t1 i1 t2 i2
  read -r _ u n s i w q sq st _ < /proc/stat; t1=$((u + n + s + i + w + q + sq + st)); i1=$((i + w))
  sleep 1
  read -r _ u n s i w q sq st _ < /proc/stat; t2=$((u + n + s + i + w + q + sq + st)); i2=$((i + w))
  local total=$((t2 - t1)); ((total > 0)) || total=1
  echo $((100 * (total - (i2 - i1)) / total))
}

# Waits for two quiet seconds in a row (at most QUIET_MAX s).
quiet() {
  local waited=0 calm=0 busy
  while :; do
    busy="$(cpu_busy)"
    if ((busy <= QUIET_BUSY)); then
      calm=$((calm + 1)); ((calm >= 2)) && return 0
    else
      calm=0
    fi
    waited=$((waited + 1))
    if ((waited >= QUIET_MAX && calm == 0)); then
      note "machine not quiet before $1: ${busy}% of the CPUs busy after ${QUIET_MAX} s of waiting; measured anyway"
      return 0
    fi
  done
}

wait_http() { # URL SECONDS
  local deadline=$((SECONDS + $2))
  until curl -fsS -m 1 -o /dev/null "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# measure LABEL URL PID SCENARIO CONCURRENCY [load args…]: RUNS runs into $RESULTS.
measure() {
  local label="$1" url="$2" pid="$3" scenario="$4" concurrency="$5" run rc
  shift 5
  for run in $(seq 1 "$RUNS"); do
    quiet "$label $scenario"
    rc=0
    "$LOAD" --label "$label" --base-url "$url" --pid "$pid" --scenario "$scenario" \
      --concurrency "$concurrency" --duration "$DURATION" --warmup "$WARMUP" --threads "$THREADS" \
      --password "$PASSWORD" --json "$@" 2>&1 >>"$RESULTS" | tee -a "$LOG" >&2 || rc=$?
    if ((rc == 2)); then
      local why
      why="$(tail -n 1 "$RESULTS" | sed -n 's/.*"invalid_because":\[\(.*\)\].*/\1/p' | tr -d '"')"
      note "$label $scenario run $run is INVALID: ${why:-see $LOG}"
    elif ((rc != 0)); then
      note "$label $scenario run $run failed (exit $rc; see $LOG)"
    fi
  done
}

concurrency_of() { case "$1" in login|register) echo "$HASH_CONCURRENCY" ;; *) echo "$CONCURRENCY" ;; esac; }

OURS_PID=""
start_ours() { # DATABASE [BINARY]
  "${2:-$SERVER}" --listen "127.0.0.1:$PORT_OURS" --database "$1" --no-rate-limits 2>>"$OUT/ours.log" >&2 &
  OURS_PID=$!
  STARTED+=("$OURS_PID")
  wait_http "http://127.0.0.1:$PORT_OURS/_matrix/client/versions" 20 || { log "our server did not start (see $OUT/ours.log)"; exit 1; }
}
stop_ours() { kill "$OURS_PID" 2>/dev/null && wait "$OURS_PID" 2>/dev/null || true; }

# --- the run --------------------------------------------------------------------
{
  echo "date: $(date -Is)"
  echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "settings: ${DURATION} s windows after ${WARMUP} s warm-up, median of ${RUNS}; concurrency ${CONCURRENCY} (login/register ${HASH_CONCURRENCY}); ${USERS} accounts; load generator on ${THREADS} thread(s)"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/machine.txt"
log "results in $OUT"

if wants "$SERVERS" hyper || wants "$SCENARIOS" login || wants "$SCENARIOS" register; then
  for run in $(seq 1 "$RUNS"); do
    quiet "argon2"
    "$LOAD" argon2 --duration "$DURATION" --json 2>>"$LOG" >>"$RESULTS"
  done
  log "argon2: done"
fi

for limit in hyper; do
  wants "$SERVERS" "$limit" || continue
  port_var="PORT_${limit^^}"
  port="${!port_var}"
  "$LOAD" "serve-$limit" --listen "127.0.0.1:$port" 2>>"$OUT/$limit.log" &
  pid=$!
  STARTED+=("$pid")
  wait_http "http://127.0.0.1:$port/_matrix/client/v3/account/whoami" 10 || { log "$limit limit server did not start"; exit 1; }
  measure "$limit" "http://127.0.0.1:$port" "$pid" static "$CONCURRENCY"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

if wants "$SERVERS" baseline && [[ -n "$BASELINE" ]]; then
  db="$TMP/baseline.db"
  start_ours "$db" "$BASELINE"
  "$LOAD" --base-url "http://127.0.0.1:$PORT_OURS" --scenario prepare --users "$USERS" --password "$PASSWORD" \
    --accounts-out "$TMP/baseline.accounts" 2>>"$LOG"
  stop_ours
  for scenario in $SCENARIOS; do
    start_ours "$db" "$BASELINE"
    measure baseline "http://127.0.0.1:$PORT_OURS" "$OURS_PID" "$scenario" "$(concurrency_of "$scenario")" \
      --accounts-file "$TMP/baseline.accounts"
    stop_ours
  done
  log "baseline: done"
fi

if wants "$SERVERS" ours; then
  db="$TMP/ours.db"
  start_ours "$db"
  "$LOAD" --base-url "http://127.0.0.1:$PORT_OURS" --scenario prepare --users "$USERS" --password "$PASSWORD" \
    --accounts-out "$TMP/ours.accounts" 2>>"$LOG"
  stop_ours
  for scenario in $SCENARIOS; do
    start_ours "$db"   # a fresh process: the RSS peak is this scenario's
    measure ours "http://127.0.0.1:$PORT_OURS" "$OURS_PID" "$scenario" "$(concurrency_of "$scenario")" \
      --accounts-file "$TMP/ours.accounts"
    stop_ours
  done
  quiet "start-up"
  "$LOAD" startup --runs 5 --label ours --json --url "http://127.0.0.1:$PORT_OURS/_matrix/client/versions" -- \
    "$SERVER" --listen "127.0.0.1:$PORT_OURS" --database "$TMP/startup{n}.db" --no-rate-limits 2>>"$LOG" >>"$RESULTS"
  log "ours: done"
fi

# A new database on the --postgres server; prints its URL.
postgres_database() { # NAME
  local name="bench_$1_$$_$RANDOM"
  psql -q "$POSTGRES" -c "CREATE DATABASE $name" >>"$LOG" 2>&1 || { log "cannot create a database on $POSTGRES"; exit 1; }
  echo "${POSTGRES%/*}/$name"
}

if [[ -n "$POSTGRES" ]] && wants "$SERVERS" postgres; then
  db="$(postgres_database one)"
  start_ours "$db"
  "$LOAD" --base-url "http://127.0.0.1:$PORT_OURS" --scenario prepare --users "$USERS" --password "$PASSWORD" \
    --accounts-out "$TMP/postgres.accounts" 2>>"$LOG"
  stop_ours
  for scenario in $SCENARIOS; do
    start_ours "$db"
    measure postgres "http://127.0.0.1:$PORT_OURS" "$OURS_PID" "$scenario" "$(concurrency_of "$scenario")" \
      --accounts-file "$TMP/postgres.accounts"
    stop_ours
  done
  log "postgres: done"
fi

if [[ -n "$POSTGRES" ]] && wants "$SERVERS" postgres2; then
  db="$(postgres_database two)"
  start_ours "$db"
  "$LOAD" --base-url "http://127.0.0.1:$PORT_OURS" --scenario prepare --users "$USERS" --password "$PASSWORD" \
    --accounts-out "$TMP/postgres2.accounts" 2>>"$LOG"
  for scenario in $SCENARIOS; do
    "$SERVER" --listen "127.0.0.1:$PORT_SECOND" --database "$db" --no-rate-limits 2>>"$OUT/ours.log" >&2 &
    second=$!
    STARTED+=("$second")
    wait_http "http://127.0.0.1:$PORT_SECOND/_matrix/client/versions" 20 || { log "the second instance did not start"; exit 1; }
    measure "postgres×2" "http://127.0.0.1:$PORT_OURS" "$OURS_PID" "$scenario" "$(concurrency_of "$scenario")" \
      --accounts-file "$TMP/postgres2.accounts" --also-base-url "http://127.0.0.1:$PORT_SECOND"
    kill "$second"; wait "$second" 2>/dev/null || true
  done
  stop_ours
  log "postgres×2: done"
fi

if wants "$SERVERS" synapse; then
  if [[ ! -f "$PEER" ]]; then
    note "Synapse skipped: $PEER is absent"
  elif ! SYNAPSE_PORT="$PORT_SYNAPSE" bash "$PEER" install >>"$LOG" 2>&1; then
    note "Synapse skipped: '$PEER install' failed (see $LOG)"
  else
    export SYNAPSE_PORT="$PORT_SYNAPSE"
    bash "$PEER" reset >>"$LOG" 2>&1
    synapse_url="http://127.0.0.1:$PORT_SYNAPSE"
    start_synapse() {
      local t0 t1
      t0=$(date +%s%N)
      SYNAPSE_PID="$(bash "$PEER" start --no-ratelimit 2>>"$LOG" | tail -n 1)"
      t1=$(date +%s%N)
      SYNAPSE_STARTED=1
      wait_http "$synapse_url/_matrix/client/versions" 5 || { note "Synapse did not answer on $synapse_url"; return 1; }
      SYNAPSE_START_MS=$(((t1 - t0) / 1000000))
    }
    if start_synapse; then
      printf '{"kind":"startup","label":"synapse","median_ms":%s,"runs_ms":[%s],"note":"synapse_peer.sh start, one run, includes daemonizing"}\n' \
        "$SYNAPSE_START_MS" "$SYNAPSE_START_MS" >> "$RESULTS"
      "$LOAD" --base-url "$synapse_url" --scenario prepare --users "$USERS" --password "$PASSWORD" \
        --accounts-out "$TMP/synapse.accounts" 2>>"$LOG"
      for scenario in $SCENARIOS; do
        bash "$PEER" stop >>"$LOG" 2>&1
        start_synapse || break
        measure synapse "$synapse_url" "$SYNAPSE_PID" "$scenario" "$(concurrency_of "$scenario")" \
          --accounts-file "$TMP/synapse.accounts"
      done
    fi
    bash "$PEER" stop >>"$LOG" 2>&1 || true
    SYNAPSE_STARTED=0
    log "synapse: done"
  fi
fi

if wants "$SERVERS" ours && [[ -n "$SIZES" ]]; then
  for accounts in $SIZES; do
    db="$TMP/seed$accounts.db"
    "$LOAD" seed --database "$db" --accounts "$accounts" --password "$PASSWORD" \
      --accounts-out "$TMP/seed$accounts.accounts" --json 2>>"$LOG" >>"$RESULTS"
    start_ours "$db"
    for scenario in whoami login; do
      measure "ours@$accounts" "http://127.0.0.1:$PORT_OURS" "$OURS_PID" "$scenario" "$(concurrency_of "$scenario")" \
        --accounts-file "$TMP/seed$accounts.accounts"
    done
    stop_ours
    rm -f "$db" "$db"-*
  done
  log "database sizes: done"
fi

{
  echo "## Results of benches/side_by_side.sh"
  echo
  sed 's/^/    /' "$OUT/machine.txt"
  echo
  "$LOAD" report "$RESULTS"
} > "$OUT/report.md"
cat "$OUT/report.md"
log "report: $OUT/report.md (raw results: $RESULTS)"
