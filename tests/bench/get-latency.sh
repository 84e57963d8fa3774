#!/usr/bin/env bash
# get-latency.sh: how long `docker-credential-ecr get` takes, warm (token cached) and cold (token
# fetched over HTTPS), next to the Go helper `docker-credential-ecr-login` (Debian package
# amazon-ecr-credential-helper) doing the same work. A benchmark, not a gating test.
#
# Both helpers talk to the project's fake ECR, reached the way real users reach ECR: the genuine
# API host name `api.ecr.us-east-1.amazonaws.com` resolves to 127.0.0.3 through an /etc/hosts
# entry, and the fake serves TLS on 127.0.0.3:443 with a certificate from a throwaway CA that both
# helpers trust through SSL_CERT_FILE (rustls-native-certs and Go's crypto/x509 both read it on
# Linux; AWS_CA_BUNDLE is set as well). No endpoint override is used: the Go helper ignores
# AWS_ENDPOINT_URL_ECR, so both resolve the real endpoint name.
#
# Every command is timed by hyperfine as `sh -c 'exec HELPER get < host.txt'` (Debian's
# hyperfine 1.15 has no --input), with `-N` so hyperfine adds no shell of its own; the floor
# `sh -c 'exec true < host.txt'` shows what the wrapper itself costs.
#
# Needs root (hosts file, port 443). Usage:
#   sudo tests/bench/get-latency.sh            # results under target/bench/get-latency-<time>/
#   RESULTS_DIR=/tmp/r RUNS=200 COLD_RUNS=50 tests/bench/get-latency.sh
#   ECR_HELPER_BIN=... FAKE_ECR_BIN=... tests/bench/get-latency.sh   # no build, these binaries
set -euo pipefail

API_HOST=api.ecr.us-east-1.amazonaws.com
API_IP=127.0.0.3
REGISTRY=123456789012.dkr.ecr.us-east-1.amazonaws.com
PASSWORD=bench-password
RUNS=${RUNS:-100}
COLD_RUNS=${COLD_RUNS:-40}
WARMUP=${WARMUP:-5}
CONCURRENT=${CONCURRENT:-8}
HOSTS_FILE=/etc/hosts
HOSTS_TAG="# ecr-e2e-test pid=$$ id=bench"

die() {
  echo "get-latency: $*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root (it edits $HOSTS_FILE and serves on $API_IP:443)"
for tool in cargo hyperfine openssl python3 docker-credential-ecr-login; do
  command -v "$tool" >/dev/null || die "$tool not found (see .ci/run for the packages)"
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
RESULTS_DIR=${RESULTS_DIR:-$TARGET_DIR/bench/get-latency-$(date +%Y%m%d-%H%M%S)}
WORK=$(mktemp -d /tmp/ecr-bench-XXXXXX)
FAKE_PID=

# --- cleanup -----------------------------------------------------------------------------------

# edit_hosts add|remove: adds our line (after dropping marked lines of dead pids) or removes ours.
# The file is rewritten in place (never by rename: in containers it is a bind mount) under the
# same flock and with the same line marker as the Rust fixtures (tests/src/system.rs).
edit_hosts() {
  mkdir -p /tmp/ecr-e2e-system
  python3 - "$1" "$HOSTS_FILE" "$HOSTS_TAG" "$API_IP $API_HOST" <<'EOF'
import fcntl, os, sys
action, path, tag, entry = sys.argv[1:]

def stale(line):
    pid = next((f[4:] for f in line.split() if f.startswith("pid=")), "")
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True

with open("/tmp/ecr-e2e-system/hosts.lock", "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    with open(path, "r+") as hosts:
        kept = [
            line
            for line in hosts.read().splitlines()
            if "# ecr-e2e-test" not in line or not (line.endswith(tag) or stale(line))
        ]
        if action == "add":
            kept.append(f"{entry} {tag}")
        hosts.seek(0)
        hosts.truncate()
        hosts.write("\n".join(kept) + "\n")
EOF
}

cleanup() {
  local status=$?
  if [[ -n $FAKE_PID ]] && kill -0 "$FAKE_PID" 2>/dev/null; then
    kill "$FAKE_PID" 2>/dev/null || true
    wait "$FAKE_PID" 2>/dev/null || true
  fi
  edit_hosts remove || echo "get-latency: could not clean $HOSTS_FILE" >&2
  if [[ -n ${KEEP_WORK:-} ]]; then
    echo "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT INT TERM

# --- build ---------------------------------------------------------------------------------------

# ECR_HELPER_BIN and FAKE_ECR_BIN (both) skip the build and measure those binaries instead.
if [[ -n ${ECR_HELPER_BIN:-} && -n ${FAKE_ECR_BIN:-} ]]; then
  OURS=$ECR_HELPER_BIN
  FAKE=$FAKE_ECR_BIN
else
  echo "== building release binaries"
  (cd "$REPO" && cargo build --release -p docker-credential-ecr -p ecr-e2e)
  OURS=$TARGET_DIR/release/docker-credential-ecr
  FAKE=$TARGET_DIR/release/fake-ecr
fi
GO_HELPER=$(command -v docker-credential-ecr-login)
[[ -x $OURS && -x $FAKE ]] || die "binaries missing: $OURS $FAKE"

# --- throwaway CA and the fake on 127.0.0.3:443 ------------------------------------------------

make_pki() {
  local dir=$WORK/pki
  mkdir -p "$dir"
  printf '%s\n' '[req]' 'distinguished_name = dn' 'x509_extensions = v3_ca' 'prompt = no' \
    '[dn]' 'CN = ecr-e2e bench throwaway CA' '[v3_ca]' \
    'basicConstraints = critical, CA:TRUE' 'keyUsage = critical, keyCertSign, cRLSign' \
    'subjectKeyIdentifier = hash' >"$dir/ca.cnf"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -config "$dir/ca.cnf" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=$API_HOST" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf '%s\n' 'basicConstraints = critical, CA:FALSE' \
    'keyUsage = critical, digitalSignature, keyEncipherment' 'extendedKeyUsage = serverAuth' \
    "subjectAltName = DNS:$API_HOST" >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
  # Trust store for both helpers: the system roots plus the throwaway CA.
  cat /etc/ssl/certs/ca-certificates.crt "$dir/ca.pem" >"$dir/bundle.pem"
}

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
  edit_hosts add
}

# --- the helpers' environment ------------------------------------------------------------------

make_env() {
  mkdir -p "$WORK/home/.aws" "$WORK/xdg-cache" "$WORK/xdg-state" "$WORK/xdg-config"
  : >"$WORK/home/.aws/config"
  : >"$WORK/home/.aws/credentials"
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
    "SSL_CERT_FILE=$WORK/pki/bundle.pem"
    "AWS_CA_BUNDLE=$WORK/pki/bundle.pem"
  )
}

# in_env COMMAND...: runs COMMAND with exactly the benchmark environment.
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
  echo "$name: get OK through https://$API_HOST (fake calls $before -> $after)"
}

# measure LABEL RUNS PREPARE COMMAND: one hyperfine run, exported as $RESULTS_DIR/LABEL.json.
measure() {
  local label=$1 runs=$2 prepare=$3 command=$4
  local args=(-N --warmup "$WARMUP" --runs "$runs" --export-json "$RESULTS_DIR/$label.json"
    --command-name "$label")
  [[ -n $prepare ]] && args+=(--prepare "$prepare")
  (cd "$WORK" && in_env hyperfine "${args[@]}" "$command")
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
make_pki
start_fake
add_hosts_entry
make_env
echo "fake ECR on https://$API_HOST ($API_IP:443), control $CONTROL; results in $RESULTS_DIR"

check_helper "docker-credential-ecr" "$OURS"
check_helper "docker-credential-ecr-login" "$GO_HELPER"

OUR_CACHE=$WORK/xdg-cache/docker-credential-ecr
GO_CACHE=$WORK/home/.ecr/cache.json
wrap() { printf "sh -c 'exec %s < %s'" "$1" "$WORK/host.txt"; }

measure floor "$RUNS" "" "$(wrap true)"
measure warm-ours "$RUNS" "" "$(wrap "$OURS get")"
measure warm-go "$RUNS" "" "$(wrap "$GO_HELPER get")"
CALLS_BEFORE_COLD=$(fake_calls)
measure cold-ours "$COLD_RUNS" "rm -rf $OUR_CACHE" "$(wrap "$OURS get")"
measure cold-go "$COLD_RUNS" "rm -f $GO_CACHE" "$(wrap "$GO_HELPER get")"
CALLS_AFTER_COLD=$(fake_calls)
CONCURRENT_OURS=$(concurrent_cold "$OURS" "$OUR_CACHE")
CONCURRENT_GO=$(concurrent_cold "$GO_HELPER" "$GO_CACHE")
SILENT_IMDS_OURS=$(silent_imds_get "$OURS")
SILENT_IMDS_GO=$(silent_imds_get "$GO_HELPER")

# --- report --------------------------------------------------------------------------------------

EXPECTED_COLD_CALLS=$((2 * (WARMUP + COLD_RUNS)))
python3 - "$RESULTS_DIR" "$((CALLS_AFTER_COLD - CALLS_BEFORE_COLD))" "$EXPECTED_COLD_CALLS" \
  "$CONCURRENT" "$CONCURRENT_OURS" "$CONCURRENT_GO" "$SILENT_IMDS_OURS" "$SILENT_IMDS_GO" \
  <<'EOF' | tee "$RESULTS_DIR/summary.md"
import json, sys
results, cold_calls, expected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
concurrent, concurrent_ours, concurrent_go = (int(a) for a in sys.argv[4:7])
imds_ours, imds_go = sys.argv[7:9]
def median_ms(label):
    return json.load(open(f"{results}/{label}.json"))["results"][0]["median"] * 1000
floor = median_ms("floor")
print("| get | docker-credential-ecr (ms) | docker-credential-ecr-login (ms) | ours / Go |")
print("| --- | ---: | ---: | ---: |")
for case in ("warm", "cold"):
    ours, go = median_ms(f"{case}-ours"), median_ms(f"{case}-go")
    print(f"| {case} | {ours:.2f} | {go:.2f} | {ours / go:.2f} |")
print(f"| floor (`sh -c 'exec true'`) | {floor:.2f} | {floor:.2f} | |")
print(f"| API calls made by {concurrent} concurrent cold gets | {concurrent_ours} | {concurrent_go} | |")
print(f"| no credentials, instance metadata silent: one get (s) | {imds_ours} | {imds_go} | |")
print()
print(f"Medians of hyperfine runs; each includes the {floor:.2f} ms wrapper floor.")
print(f"Fake ECR calls during the cold runs (incl. warm-up): {cold_calls} (expected {expected}).")
if cold_calls < expected:
    print("WARNING: some cold runs did not fetch a token: the cold numbers are not all cold.")
EOF
echo "hyperfine JSON: $RESULTS_DIR/{floor,warm-ours,warm-go,cold-ours,cold-go}.json"
