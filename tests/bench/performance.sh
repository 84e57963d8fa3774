#!/usr/bin/env bash
# performance.sh: the product's performance targets, measured in one run next to the Go helper
# `docker-credential-ecr-login` (Debian package amazon-ecr-credential-helper) doing the same
# work. A benchmark, not a gating test: it prints each figure, its target and PASS or MISS.
#
# Both helpers talk to the project's fake ECR, reached the way real users reach ECR: the genuine
# API host name `api.ecr.us-east-1.amazonaws.com` resolves to 127.0.0.3 through an /etc/hosts
# entry, and the fake serves TLS on 127.0.0.3:443 with a certificate from a throwaway CA that is
# added to the SYSTEM trust store for the run (/usr/local/share/ca-certificates and
# update-ca-certificates; removed again afterwards). No SSL_CERT_FILE, SSL_CERT_DIR or
# AWS_CA_BUNDLE is set: each helper loads the machine's full trust store, as users run them. No
# endpoint override either: the Go helper ignores AWS_ENDPOINT_URL_ECR.
#
# Every command is timed by hyperfine as `sh -c 'exec HELPER get < host.txt'` (Debian's
# hyperfine 1.15 has no --input), with `-N` so hyperfine adds no shell of its own. Floors: the
# same wrapper around `true`, and around `cat` of our cache file (the least a warm answer can
# cost: start a program, read one file, write it out). Medians throughout.
#
# Rows: warm and cold `get`; API calls of concurrent cold gets; one get with no credentials and
# a silent instance-metadata endpoint; warm `get` with 200 bindings against one; the legacy
# `docker build` path (a `get` for each of 50 registries, in a row); `status` and `list` with
# 200 bindings, offline; the agent looking after 200 registries (RSS, CPU while nothing is due).
# "Cold" clears our cache and state directories (and the Go helper's cache) before each run.
#
# Needs root (hosts file, port 443, the system trust store). Usage:
#   sudo tests/bench/performance.sh            # results under target/bench/performance-<time>/
#   RESULTS_DIR=/tmp/r RUNS=200 COLD_RUNS=50 tests/bench/performance.sh
#   ECR_HELPER_DIR=... FAKE_ECR_BIN=... tests/bench/performance.sh   # no build, these binaries
set -euo pipefail

API_HOST=api.ecr.us-east-1.amazonaws.com
API_IP=127.0.0.3
REGISTRY=123456789012.dkr.ecr.us-east-1.amazonaws.com
PASSWORD=bench-password
RUNS=${RUNS:-100}
COLD_RUNS=${COLD_RUNS:-40}
WARMUP=${WARMUP:-5}
# Rows compared with each other run in ROUNDS hyperfine runs, the order reversed every other
# round, and each row's median is over all its runs: a machine whose speed drifts during the
# benchmark then favours no row.
ROUNDS=${ROUNDS:-3}
CONCURRENT=${CONCURRENT:-8}
SCALE_BINDINGS=${SCALE_BINDINGS:-200}
LEGACY_REGISTRIES=${LEGACY_REGISTRIES:-50}
LEGACY_RUNS=${LEGACY_RUNS:-20}
AGENT_SETTLE=${AGENT_SETTLE:-10}
AGENT_WINDOW=${AGENT_WINDOW:-30}
HOSTS_FILE=/etc/hosts
SYSTEM_CA_PREFIX=ecr-bench-
HOSTS_TAG="# ecr-e2e-test pid=$$ id=bench"

die() {
  echo "performance: $*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root (it edits $HOSTS_FILE and the system trust store, and serves on $API_IP:443)"
for tool in cargo hyperfine openssl python3 update-ca-certificates docker-credential-ecr-login; do
  command -v "$tool" >/dev/null || die "$tool not found (see .ci/run for the packages)"
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
RESULTS_DIR=${RESULTS_DIR:-$TARGET_DIR/bench/performance-$(date +%Y%m%d-%H%M%S)}
WORK=$(mktemp -d /tmp/ecr-bench-XXXXXX)
# shellcheck source=tests/bench/lib.sh
source "$REPO/tests/bench/lib.sh"
FAKE_PID=
AGENT_PID=

# --- cleanup -----------------------------------------------------------------------------------

cleanup() {
  local status=$?
  if [[ -n $AGENT_PID ]] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
  fi
  if [[ -n $FAKE_PID ]] && kill -0 "$FAKE_PID" 2>/dev/null; then
    kill "$FAKE_PID" 2>/dev/null || true
    wait "$FAKE_PID" 2>/dev/null || true
  fi
  edit_hosts remove || echo "performance: could not clean $HOSTS_FILE" >&2
  remove_system_ca
  if [[ -n ${KEEP_WORK:-} ]]; then
    echo "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT INT TERM

# --- build ---------------------------------------------------------------------------------------

# ECR_HELPER_DIR (holding docker-credential-ecr and docker-credential-ecr-full) and FAKE_ECR_BIN
# (both) skip the build and measure those binaries instead.
if [[ -n ${ECR_HELPER_DIR:-} && -n ${FAKE_ECR_BIN:-} ]]; then
  OURS=$ECR_HELPER_DIR/docker-credential-ecr
  FAKE=$FAKE_ECR_BIN
else
  echo "== building release binaries"
  (cd "$REPO" && cargo build --release -p docker-credential-ecr -p ecr-e2e --bin docker-credential-ecr \
    --bin docker-credential-ecr-full --bin fake-ecr)
  OURS=$TARGET_DIR/release/docker-credential-ecr
  FAKE=$TARGET_DIR/release/fake-ecr
fi
GO_HELPER=$(command -v docker-credential-ecr-login)
[[ -x $OURS && -x $(dirname "$OURS")/docker-credential-ecr-full && -x $FAKE ]] ||
  die "binaries missing: $OURS (and docker-credential-ecr-full beside it), $FAKE"

# --- throwaway CA and the fake on 127.0.0.3:443 ------------------------------------------------

start_fake() {
  "$FAKE" --listen "$API_IP:443" --control 127.0.0.1:0 \
    --tls-cert "$WORK/pki/server.pem" --tls-key "$WORK/pki/server.key" \
    --password "$PASSWORD" --lifetime-secs 43200 >"$WORK/fake.out" 2>"$WORK/fake.err" &
  FAKE_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    if grep -q '^LISTENING' "$WORK/fake.out"; then
      CONTROL=$(sed -n 's/^LISTENING .*control=\([^ ]*\).*/\1/p' "$WORK/fake.out")
      return 0
    fi
    kill -0 "$FAKE_PID" 2>/dev/null || die "fake-ecr exited: $(cat "$WORK/fake.err")"
    sleep 0.05
  done
  die "fake-ecr did not announce LISTENING within 15 s"
}

fake_calls() {
  python3 -c 'import json,sys,urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
print(json.load(opener.open("http://" + sys.argv[1] + "/stats"))["calls"])' "$CONTROL"
}

add_hosts_entry() {
  edit_hosts add "$API_IP $API_HOST"
}

# --- the helpers' environment ------------------------------------------------------------------

make_env() {
  mkdir -p "$WORK/home/.aws" "$WORK/xdg-cache" "$WORK/xdg-state" "$WORK/xdg-config"
  : >"$WORK/home/.aws/config"
  # Profile `bench` holds the example keys for the bound registries of the scale rows; the
  # unbound ones use the environment's keys.
  printf '%s\n' '[bench]' 'aws_access_key_id = AKIAIOSFODNN7EXAMPLE' \
    'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' >"$WORK/home/.aws/credentials"
  printf '%s' "$REGISTRY" >"$WORK/host.txt"
  BENCH_ENV=(
    "PATH=/usr/local/bin:/usr/bin:/bin"
    "HOME=$WORK/home"
    "XDG_CACHE_HOME=$WORK/xdg-cache"
    "XDG_STATE_HOME=$WORK/xdg-state"
    "XDG_CONFIG_HOME=$WORK/xdg-config"
    "AWS_CONFIG_FILE=$WORK/home/.aws/config"
    "AWS_SHARED_CREDENTIALS_FILE=$WORK/home/.aws/credentials"
    "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"
    "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    "AWS_REGION=us-east-1"
    "AWS_EC2_METADATA_DISABLED=true"
  )
}

# in_env COMMAND...: runs COMMAND with exactly the benchmark environment (a VAR=value first
# overrides the benchmark's own).
in_env() {
  env -i "${BENCH_ENV[@]}" "$@"
}

# check_helper NAME BINARY: one real get, which must answer the fake's password (and prime the
# helper's cache).
check_helper() {
  local name=$1 binary=$2 before after answer
  before=$(fake_calls)
  answer=$(cd "$WORK" && in_env "$binary" get <"$WORK/host.txt") ||
    die "$name get failed: $answer"
  after=$(fake_calls)
  python3 -c 'import json,sys; s=json.loads(sys.argv[1])["Secret"]; sys.exit(s != sys.argv[2])' \
    "$answer" "$PASSWORD" || die "$name answered the wrong secret: $answer"
  ((after > before)) || die "$name did not call the fake ECR (calls $before -> $after)"
  echo "$name: get OK through https://$API_HOST with the system trust store (fake calls $before -> $after)"
}

# measure LABEL RUNS PREPARE COMMAND [HYPERFINE ARGS...]: one hyperfine run, exported as
# $RESULTS_DIR/LABEL.json.
measure() {
  local label=$1 runs=$2 prepare=$3 command=$4
  shift 4
  local args=(-N --warmup "$WARMUP" --runs "$runs" --export-json "$RESULTS_DIR/$label.json" "$@")
  [[ -n $prepare ]] && args+=(--prepare "$prepare")
  (cd "$WORK" && in_env hyperfine "${args[@]}" "$command")
}

# measure_rounds LABEL RUNS COMMAND...: the commands side by side in ROUNDS hyperfine runs
# (the order reversed every other round), exported as $RESULTS_DIR/LABEL-rN.json.
measure_rounds() {
  local label=$1 runs=$2 round i
  shift 2
  local commands=("$@") ordered
  for ((round = 1; round <= ROUNDS; round++)); do
    ordered=()
    if ((round % 2 == 0)); then
      for ((i = ${#commands[@]} - 1; i >= 0; i--)); do ordered+=("${commands[i]}"); done
    else
      ordered=("${commands[@]}")
    fi
    (cd "$WORK" && in_env hyperfine -N --warmup "$WARMUP" --runs "$runs" \
      --export-json "$RESULTS_DIR/$label-r$round.json" "${ordered[@]}")
  done
}

# cold_breakdown: COLD_RUNS cold gets with the debug log on; writes the fetch steps' times
# ("token fetched client_us=… credentials_us=… api_call_us=…") to $RESULTS_DIR/cold-steps.txt.
cold_breakdown() {
  local i log=$OUR_STATE/docker-credential-ecr.log
  : >"$RESULTS_DIR/cold-steps.txt"
  for ((i = 0; i < COLD_RUNS; i++)); do
    rm -rf "$OUR_CACHE" "$OUR_STATE"
    (cd "$WORK" && in_env DOCKER_CREDENTIAL_ECR_LOG=debug "$OURS" get <"$WORK/host.txt" >/dev/null) ||
      die "a cold get with the debug log failed"
    grep -h 'token fetched' "$log" >>"$RESULTS_DIR/cold-steps.txt" || die "no 'token fetched' line in $log"
  done
}

# make_scale_configs: config dirs cfg-one (REGISTRY bound to profile bench) and cfg-many
# (SCALE_BINDINGS registries bound to it, REGISTRY the last), written by `add` itself.
make_scale_configs() {
  local i host cfg bound
  in_env XDG_CONFIG_HOME="$WORK/cfg-one" "$OURS" add "$REGISTRY" --profile bench --no-verify \
    --no-configure >/dev/null || die "add to cfg-one failed"
  for ((i = 1; i < SCALE_BINDINGS; i++)); do
    host=$(printf '%012d.dkr.ecr.us-east-1.amazonaws.com' $((100000000000 + i)))
    in_env XDG_CONFIG_HOME="$WORK/cfg-many" "$OURS" add "$host" --profile bench --no-verify \
      --no-configure >/dev/null || die "add $host to cfg-many failed"
  done
  in_env XDG_CONFIG_HOME="$WORK/cfg-many" "$OURS" add "$REGISTRY" --profile bench --no-verify \
    --no-configure >/dev/null || die "add to cfg-many failed"
  bound=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["bindings"]))' \
    "$WORK/cfg-many/docker-credential-ecr/config.json")
  ((bound == SCALE_BINDINGS)) || die "cfg-many holds $bound bindings, expected $SCALE_BINDINGS"
  for cfg in cfg-one cfg-many; do
    (cd "$WORK" && in_env XDG_CONFIG_HOME="$WORK/$cfg" "$OURS" get <"$WORK/host.txt" >/dev/null) ||
      die "warm-up get with $cfg failed"
  done
}

# make_legacy_hosts: LEGACY_REGISTRIES unbound registry hosts of one region (the default chain's
# identity), each fetched once by both helpers so that the legacy rows are all warm.
make_legacy_hosts() {
  local i helper
  mkdir -p "$WORK/legacy"
  for ((i = 0; i < LEGACY_REGISTRIES; i++)); do
    printf '%012d.dkr.ecr.us-east-1.amazonaws.com' $((200000000000 + i)) >"$WORK/legacy/$i.txt"
  done
  # What `docker build` does on its legacy path (docker/cli#1591): a get for every credHelpers
  # registry, one after another. Each get's stdin is a file, so that the loop itself costs one
  # fork and exec per get (the `true` row shows what that is).
  cat >"$WORK/legacy.sh" <<'SH'
for input in "$2"/*.txt; do
  "$1" get <"$input" >/dev/null || exit 1
done
SH
  LEGACY_CALLS_BEFORE=$(fake_calls)
  for helper in "$OURS" "$GO_HELPER"; do
    (cd "$WORK" && in_env sh legacy.sh "$helper" "$WORK/legacy") ||
      die "priming the legacy hosts with $helper failed"
  done
  LEGACY_CALLS_AFTER=$(fake_calls)
}

# agent_at_rest: the agent with cfg-many; prints "RSS_KIB CPU_TICKS CALLS" for the AGENT_WINDOW
# seconds after AGENT_SETTLE seconds.
agent_at_rest() {
  (cd "$WORK" && exec env -i "${BENCH_ENV[@]}" XDG_CONFIG_HOME="$WORK/cfg-many" "$OURS" agent \
    >"$WORK/agent.out" 2>"$WORK/agent.err") &
  AGENT_PID=$!
  sleep "$AGENT_SETTLE"
  kill -0 "$AGENT_PID" 2>/dev/null || die "the agent exited: $(cat "$WORK/agent.err")"
  local rss ticks_before ticks_after calls_before calls_after
  ticks_before=$(awk '{ print $14 + $15 }' "/proc/$AGENT_PID/stat")
  calls_before=$(fake_calls)
  sleep "$AGENT_WINDOW"
  ticks_after=$(awk '{ print $14 + $15 }' "/proc/$AGENT_PID/stat")
  calls_after=$(fake_calls)
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$AGENT_PID/status")
  AGENT_RESULT="$rss $((ticks_after - ticks_before)) $((calls_after - calls_before))"
  kill "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null || true
  AGENT_PID=
}

# concurrent_cold BINARY CACHE: CONCURRENT simultaneous cold gets (CACHE removed first); prints
# how many API calls they made together.
concurrent_cold() {
  local binary=$1 cache=$2 before after i pids=()
  rm -rf "$cache"
  before=$(fake_calls)
  for ((i = 0; i < CONCURRENT; i++)); do
    (cd "$WORK" && in_env "$binary" get <"$WORK/host.txt" >/dev/null) &
    pids+=($!)
  done
  for i in "${pids[@]}"; do
    wait "$i" || die "a concurrent get of $binary failed"
  done
  after=$(fake_calls)
  echo $((after - before))
}

# silent_imds_get BINARY: seconds one get takes with no credentials at all and an instance
# metadata endpoint that accepts connections and never answers (a laptop on a network that
# swallows 169.254.169.254; here a loopback black hole). Capped at 120 s.
silent_imds_get() {
  local binary=$1 port started ended
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 - "$port" <<'PY' &
import socket, sys, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(64)
server.settimeout(0.5)
held, deadline = [], time.time() + 125
while time.time() < deadline:
    try:
        held.append(server.accept()[0])
    except OSError:
        pass
PY
  local hole=$!
  sleep 0.3
  started=$(date +%s.%N)
  (cd "$WORK" && env -i PATH=/usr/bin:/bin HOME="$WORK/no-identity" \
    XDG_CACHE_HOME="$WORK/no-identity/cache" XDG_STATE_HOME="$WORK/no-identity/state" \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$port" \
    timeout 120 "$binary" get <"$WORK/host.txt" >/dev/null 2>&1) || true
  ended=$(date +%s.%N)
  kill "$hole" 2>/dev/null || true
  wait "$hole" 2>/dev/null || true
  python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$started" "$ended"
}

# --- run -----------------------------------------------------------------------------------------

mkdir -p "$RESULTS_DIR"
make_pki "ecr-e2e bench throwaway CA" "$API_HOST"
add_system_ca
start_fake
add_hosts_entry
make_env
echo "fake ECR on https://$API_HOST ($API_IP:443), control $CONTROL; results in $RESULTS_DIR"

check_helper "docker-credential-ecr" "$OURS"
check_helper "docker-credential-ecr-login" "$GO_HELPER"

OUR_CACHE=$WORK/xdg-cache/docker-credential-ecr
OUR_STATE=$WORK/xdg-state/docker-credential-ecr
GO_CACHE=$WORK/home/.ecr/cache.json
CACHE_FILE=$(find "$OUR_CACHE" -name '*.json' | head -1)
[[ -n $CACHE_FILE ]] || die "no cache file under $OUR_CACHE"
wrap() { printf "sh -c 'exec %s < %s'" "$1" "$WORK/host.txt"; }

measure_rounds warm "$RUNS" "$(wrap true)" "$(wrap "cat $CACHE_FILE")" "$(wrap "$OURS get")" \
  "$(wrap "$GO_HELPER get")"
CALLS_BEFORE_COLD=$(fake_calls)
measure cold-ours "$COLD_RUNS" "rm -rf $OUR_CACHE $OUR_STATE" "$(wrap "$OURS get")"
measure cold-go "$COLD_RUNS" "rm -f $GO_CACHE" "$(wrap "$GO_HELPER get")"
CALLS_AFTER_COLD=$(fake_calls)
measure_rounds start "$RUNS" "$(wrap "$OURS version")" "$(wrap "$(dirname "$OURS")/docker-credential-ecr-full version")"
cold_breakdown
CONCURRENT_OURS=$(concurrent_cold "$OURS" "$OUR_CACHE")
CONCURRENT_GO=$(concurrent_cold "$GO_HELPER" "$GO_CACHE")
SILENT_IMDS_OURS=$(silent_imds_get "$OURS")
SILENT_IMDS_GO=$(silent_imds_get "$GO_HELPER")

echo "== scale: $SCALE_BINDINGS bindings, $LEGACY_REGISTRIES registries in a row, the agent"
make_scale_configs
measure_rounds bindings "$RUNS" \
  "sh -c 'XDG_CONFIG_HOME=$WORK/cfg-one exec $OURS get < $WORK/host.txt'" \
  "sh -c 'XDG_CONFIG_HOME=$WORK/cfg-many exec $OURS get < $WORK/host.txt'"
CALLS_BEFORE_OFFLINE=$(fake_calls)
measure status-many "$COLD_RUNS" "" "sh -c 'XDG_CONFIG_HOME=$WORK/cfg-many exec $OURS status > /dev/null'"
measure list-many "$COLD_RUNS" "" "sh -c 'XDG_CONFIG_HOME=$WORK/cfg-many exec $OURS list > /dev/null'"
OFFLINE_CALLS=$(($(fake_calls) - CALLS_BEFORE_OFFLINE))
make_legacy_hosts
measure_rounds legacy "$LEGACY_RUNS" "sh $WORK/legacy.sh $OURS $WORK/legacy" \
  "sh $WORK/legacy.sh $GO_HELPER $WORK/legacy" "sh $WORK/legacy.sh /bin/true $WORK/legacy"
agent_at_rest
read -r AGENT_RSS AGENT_TICKS AGENT_CALLS <<<"$AGENT_RESULT"

# --- report --------------------------------------------------------------------------------------

EXPECTED_COLD_CALLS=$((2 * (WARMUP + COLD_RUNS)))
python3 - "$RESULTS_DIR" "$((CALLS_AFTER_COLD - CALLS_BEFORE_COLD))" "$EXPECTED_COLD_CALLS" \
  "$CONCURRENT" "$CONCURRENT_OURS" "$CONCURRENT_GO" "$SILENT_IMDS_OURS" "$SILENT_IMDS_GO" \
  "$SCALE_BINDINGS" "$LEGACY_REGISTRIES" "$((LEGACY_CALLS_AFTER - LEGACY_CALLS_BEFORE))" \
  "$OFFLINE_CALLS" "$AGENT_RSS" "$AGENT_TICKS" "$AGENT_CALLS" "$AGENT_WINDOW" "$OURS" \
  <<'EOF' | tee "$RESULTS_DIR/summary.md"
import json, sys
results = sys.argv[1]
cold_calls, expected = int(sys.argv[2]), int(sys.argv[3])
concurrent, concurrent_ours, concurrent_go = (int(a) for a in sys.argv[4:7])
imds_ours, imds_go = sys.argv[7:9]
bindings, legacy_n, legacy_prime_calls, offline_calls = (int(a) for a in sys.argv[9:13])
agent_rss_kib, agent_ticks, agent_calls, agent_window = (int(a) for a in sys.argv[13:17])

import glob, statistics

def median_ms(label):
    runs = json.load(open(f"{results}/{label}.json"))["results"]
    return runs[0]["median"] * 1000

def pooled_ms(label, marker):
    """The median over every round of LABEL of the one command holding MARKER."""
    times = []
    for path in sorted(glob.glob(f"{results}/{label}-r*.json")):
        found = [r for r in json.load(open(path))["results"] if marker in r["command"]]
        assert len(found) == 1, (path, marker)
        times += found[0]["times"]
    return statistics.median(times) * 1000

verdicts = []
def verdict(ok):
    verdicts.append(ok)
    return "PASS" if ok else "MISS"

ours_marker, go_marker = sys.argv[17], "docker-credential-ecr-login"
floor, floor_cat = pooled_ms("warm", "exec true <"), pooled_ms("warm", "exec cat ")
warm_ours, warm_go = pooled_ms("warm", ours_marker + " get"), pooled_ms("warm", go_marker)
cold_ours, cold_go = median_ms("cold-ours"), median_ms("cold-go")
one, many = pooled_ms("bindings", "cfg-one"), pooled_ms("bindings", "cfg-many")
status_many, list_many = median_ms("status-many"), median_ms("list-many")
legacy_ours = pooled_ms("legacy", "legacy.sh " + ours_marker + " ")
legacy_go = pooled_ms("legacy", go_marker)
legacy_floor = pooled_ms("legacy", "legacy.sh /bin/true")
start_front = pooled_ms("start", ours_marker + " version")
start_full = pooled_ms("start", "docker-credential-ecr-full version")
import re
steps = {"client_us": [], "credentials_us": [], "api_call_us": []}
for line in open(f"{results}/cold-steps.txt"):
    for name in steps:
        found = re.search(name + r"=(\d+)", line)
        if found:
            steps[name].append(int(found.group(1)) / 1000)
step_ms = {name: statistics.median(values) for name, values in steps.items() if values}

print("| row | docker-credential-ecr | docker-credential-ecr-login | ours / Go | target | |")
print("| --- | ---: | ---: | ---: | --- | --- |")
print(f"| warm `get` (ms) | {warm_ours:.2f} | {warm_go:.2f} | {warm_ours / warm_go:.2f} "
      f"| `cat` floor + 0.3 ms at most: {warm_ours - floor_cat:+.2f} ms | {verdict(warm_ours - floor_cat <= 0.3)} |")
print(f"| cold `get`, one token fetch over TLS (ms) | {cold_ours:.2f} | {cold_go:.2f} | {cold_ours / cold_go:.2f} "
      f"| 0.6 at most (stretch 0.5) | {verdict(cold_ours / cold_go <= 0.6)} |")
print(f"| floor: the wrapper around `true` (ms) | {floor:.2f} | {floor:.2f} | | | |")
print(f"| floor: the wrapper around `cat` of our cache file (ms) | {floor_cat:.2f} | {floor_cat:.2f} | | | |")
print(f"| API calls made by {concurrent} concurrent cold gets | {concurrent_ours} | {concurrent_go} | | | |")
print(f"| no credentials, instance metadata silent: one get (s) | {imds_ours} | {imds_go} | | | |")
print(f"| warm `get`, {bindings} bindings / 1 binding (ms) | {many:.2f} / {one:.2f} | | | "
      f"1.10 at most: {many / one:.3f} | {verdict(many / one <= 1.10)} |")
print(f"| legacy `docker build`: {legacy_n} warm gets in a row (ms) | {legacy_ours:.1f} | {legacy_go:.1f} "
      f"| {legacy_ours / legacy_go:.2f} | 0.2 at most | {verdict(legacy_ours / legacy_go <= 0.2)} |")
print(f"| the same loop around `/bin/true` (ms) | {legacy_floor:.1f} | {legacy_floor:.1f} | | | |")
print(f"| API calls priming those {legacy_n} registries, both helpers | {legacy_prime_calls} in all | | | | |")
print(f"| `status`, {bindings} bindings, offline (ms) | {status_many:.1f} | | | under 100 | {verdict(status_many < 100)} |")
print(f"| `list`, {bindings} bindings, offline (ms) | {list_many:.1f} | | | under 100 | {verdict(list_many < 100)} |")
print(f"| API calls of those `status` and `list` runs | {offline_calls} | | | 0 | {verdict(offline_calls == 0)} |")
rss = agent_rss_kib / 1024
print(f"| agent, {bindings} registries: RSS (MiB) | {rss:.1f} | | | 30 at most | {verdict(rss <= 30)} |")
print(f"| agent: CPU (s) and API calls in {agent_window} s with nothing due | {agent_ticks / 100:.2f}, {agent_calls} | | "
      f"| 0.00, 0 | {verdict(agent_ticks == 0 and agent_calls == 0)} |")
print()
print(f"Where a cold `get`'s {cold_ours:.2f} ms go (medians): "
      f"`version` through the front program (two program starts and the wrapper) {start_front:.2f} ms, "
      f"the full program's `version` alone {start_full:.2f} ms; inside the fetch (debug log of "
      f"{len(steps['client_us'])} cold gets): HTTP client and trust roots {step_ms.get('client_us', 0):.2f} ms, "
      f"credentials {step_ms.get('credentials_us', 0):.2f} ms, the API call (TLS set-up, handshake, "
      f"signing, round trip) {step_ms.get('api_call_us', 0):.2f} ms; the rest "
      f"{cold_ours - start_front - sum(step_ms.values()):.2f} ms (config and bindings, cache and "
      f"state directories, lock, writes, runtime set-up).")
print()
print(f"Medians of hyperfine runs (rows side by side: over {len(glob.glob(results + '/warm-r*.json'))} rounds); "
      f"each includes the {floor:.2f} ms wrapper floor. "
      f"Fake ECR calls during the cold runs (incl. warm-up): {cold_calls} (expected {expected}).")
if cold_calls < expected:
    print("WARNING: some cold runs did not fetch a token: the cold numbers are not all cold.")
print(f"Targets met: {sum(verdicts)} of {len(verdicts)}.")
EOF
echo "hyperfine JSON: $RESULTS_DIR/*.json"
