#!/usr/bin/env bash
# mirror.sh: a measured copy of the Currents images (users.md) with `docker-credential-ecr
# mirror`, next to the nearest daemon-less equivalent, a loop of `skopeo copy`. A benchmark, not
# a gating test: it prints the figures of the README, and PASS or MISS for the one promise it
# checks (a re-run uploads nothing).
#
# The rig is the one of the e2e tests (tests/src/mirror_rig.rs), on addresses of its own:
# - the project's fake ECR on plain HTTP on loopback, reached through AWS_ENDPOINT_URL_ECR (the
#   only override: the registries are reached by name, as users reach them);
# - the source: Debian's docker-registry under the genuine ECR host
#   210987654321.dkr.ecr.eu-central-1.amazonaws.com on 127.0.0.7:443, htpasswd user `AWS` with
#   the password inside the fake's tokens (our mirror gets in only with a token it fetched);
# - the target: another docker-registry under registry.bench.test on 127.0.0.8:443 with its own
#   htpasswd login, which our mirror finds in the docker config (`auths`, as `docker login`
#   leaves it);
# - /etc/hosts entries for both names (tagged, dropped afterwards) and one throwaway CA whose
#   server certificate covers both, added to the SYSTEM trust store for the run
#   (/usr/local/share/ca-certificates and update-ca-certificates; removed again afterwards). No
#   AWS_CA_BUNDLE, SSL_CERT_FILE or --cert-dir: both copiers trust the registries as users have
#   them.
#
# The images: the six Currents services currents/on-prem/{director,api,dashboard,scheduler,
# writer,change-streams}:staging, each a shared base layer (BASE_MB) plus layers of its own
# (SERVICE_LAYERS_MB, one size per layer), built by hand as an OCI layout of random bytes
# (uncompressed layer media type: nothing recompresses them) and seeded with
# `skopeo copy --preserve-digests`. Defaults: 60 MB + 6 x (20 + 10) MB = 240 MB unique, 540 MB
# in the six images.
#
# Each of ROUNDS rounds (the order of the two copiers reversed every other round) copies into
# fresh repository prefixes of the target:
# - ours: `docker-credential-ecr mirror SRC/currents/on-prem/X:staging (x6) --to
#   registry.bench.test/roundN-ours/`, then the same command again (everything up to date);
# - skopeo: `skopeo copy --preserve-digests --src-creds AWS:PASSWORD --dest-creds USER:PASSWORD`
#   once per image into registry.bench.test/roundN-skopeo/ (the password handed to it, as
#   `aws ecr get-login-password` would; --preserve-digests so that it copies the same bytes
#   and does not gzip the layers), then the same loop again.
# Wall times (medians over the rounds, `sync` before each), MB/s (the bytes of the six images,
# 10^6 bytes per MB, over the wall time), the ratio ours / skopeo, the peak RSS of each copier
# (/usr/bin/time -v, else VmHWM polled from /proc), and the blob uploads and cross-repository
# mounts each copy made and the bytes it uploaded, counted in the target's access log (a re-run
# of ours must upload nothing). Every copy is checked: the
# target's digests (skopeo inspect) must be the source's.
#
# Needs root (hosts file, port 443 of two loopback addresses, the system trust store). Usage:
#   sudo bash tests/bench/mirror.sh             # results under target/bench/mirror-<time>/
#   ROUNDS=5 BASE_MB=100 SERVICE_LAYERS_MB="30 20 5" bash tests/bench/mirror.sh
#   ECR_HELPER_DIR=... FAKE_ECR_BIN=... bash tests/bench/mirror.sh   # no build, these binaries
set -euo pipefail

SOURCE_HOST=210987654321.dkr.ecr.eu-central-1.amazonaws.com
SOURCE_IP=127.0.0.7
SOURCE_PASSWORD=bench-source-password
TARGET_HOST=registry.bench.test
TARGET_IP=127.0.0.8
TARGET_USER=bench-mirror
TARGET_PASSWORD=bench-target-password
SERVICES=(director api dashboard scheduler writer change-streams)
SOURCE_PATH=currents/on-prem
TAG=staging
ROUNDS=${ROUNDS:-3}
BASE_MB=${BASE_MB:-60}
SERVICE_LAYERS_MB=${SERVICE_LAYERS_MB:-20 10}
HOSTS_FILE=/etc/hosts
HOSTS_TAG="# ecr-e2e-test pid=$$ id=mirror-bench"
SYSTEM_CA_PREFIX=ecr-mirror-bench-
# Pidfiles of the daemons of a run, so that a later run can stop those of a killed one.
STATE=/tmp/ecr-mirror-bench-state
SKOPEO_SYSTEM_CACHE=/var/lib/containers/cache
MADE_SKOPEO_CACHE=

die() {
  echo "mirror-bench: $*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root (it edits $HOSTS_FILE and the system trust store, and serves on $SOURCE_IP:443 and $TARGET_IP:443)"
for tool in cargo skopeo docker-registry htpasswd openssl python3 update-ca-certificates; do
  command -v "$tool" >/dev/null || die "$tool not found (see .ci/run for the packages)"
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number: $ROUNDS"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
RESULTS_DIR=${RESULTS_DIR:-$TARGET_DIR/bench/mirror-$(date +%Y%m%d-%H%M%S)}
WORK=$(mktemp -d "/tmp/ecr-mirror-bench-$$-XXXXXX")
PIDS=()
# shellcheck source=tests/bench/lib.sh
source "$REPO/tests/bench/lib.sh"

# --- cleanup -------------------------------------------------------------------------------------

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL.
stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

# stop_leftovers: the daemons, CA files and work dirs of earlier runs that were killed before
# their cleanup ran (their pids are dead, or their daemons outlived them).
stop_leftovers() {
  local pidfile pid stale owner
  mkdir -p "$STATE"
  for pidfile in "$STATE"/*.pid; do
    [[ -e $pidfile ]] || continue
    pid=$(cat "$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && grep -qaE 'docker-registry|fake-ecr' "/proc/$pid/cmdline" 2>/dev/null; then
      echo "mirror-bench: stopping $(basename "$pidfile" .pid) (pid $pid) of an earlier run" >&2
      stop_pid "$pid"
    fi
    rm -f "$pidfile"
  done
  for stale in /tmp/ecr-mirror-bench-[0-9]*-*; do
    [[ -d $stale && $stale != "$WORK" ]] || continue
    owner=${stale#/tmp/ecr-mirror-bench-}
    owner=${owner%%-*}
    kill -0 "$owner" 2>/dev/null || rm -rf "$stale"
  done
}

cleanup() {
  local status=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    stop_pid "$pid"
    wait "$pid" 2>/dev/null || true
  done
  rm -f "$STATE"/*.pid
  edit_hosts remove || echo "mirror-bench: could not clean $HOSTS_FILE" >&2
  remove_system_ca
  if [[ -n $MADE_SKOPEO_CACHE ]]; then
    rmdir "$SKOPEO_SYSTEM_CACHE" 2>/dev/null || true
  fi
  if [[ -n ${KEEP_WORK:-} ]]; then
    echo "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT INT TERM

# --- build ---------------------------------------------------------------------------------------

# ECR_HELPER_DIR (holding docker-credential-ecr, -full and -mirror) and FAKE_ECR_BIN (both) skip
# the build and measure those binaries instead.
if [[ -n ${ECR_HELPER_DIR:-} && -n ${FAKE_ECR_BIN:-} ]]; then
  HELPER_DIR=$(realpath "$ECR_HELPER_DIR")
  FAKE=$(realpath "$FAKE_ECR_BIN")
else
  echo "== building release binaries"
  (cd "$REPO" && cargo build --release -p docker-credential-ecr -p ecr-e2e --bin docker-credential-ecr \
    --bin docker-credential-ecr-full --bin docker-credential-ecr-mirror --bin fake-ecr)
  HELPER_DIR=$TARGET_DIR/release
  FAKE=$TARGET_DIR/release/fake-ecr
fi
OURS=$HELPER_DIR/docker-credential-ecr
for binary in "$OURS" "$HELPER_DIR/docker-credential-ecr-full" "$HELPER_DIR/docker-credential-ecr-mirror" "$FAKE"; do
  [[ -x $binary ]] || die "binary missing: $binary"
done

# --- the throwaway CA, the fake ECR and the two registries ----------------------------------------

start_fake() {
  : >"$WORK/fake.out"
  "$FAKE" --listen 127.0.0.1:0 --control 127.0.0.1:0 --password "$SOURCE_PASSWORD" \
    --lifetime-secs 43200 >"$WORK/fake.out" 2>"$WORK/fake.err" &
  local pid=$! i
  PIDS+=("$pid")
  echo "$pid" >"$STATE/fake-ecr.pid"
  for ((i = 0; i < 300; i++)); do
    if grep -q '^LISTENING' "$WORK/fake.out"; then
      FAKE_API=$(sed -n 's/^LISTENING api=\([^ ]*\).*/\1/p' "$WORK/fake.out")
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "fake-ecr exited: $(cat "$WORK/fake.err")"
    sleep 0.05
  done
  die "fake-ecr did not announce LISTENING within 15 s"
}

# start_registry NAME IP USER PASSWORD: docker-registry with TLS on IP:443 and one htpasswd
# user, its storage and log under $WORK/NAME; waits until it answers.
start_registry() {
  local name=$1 ip=$2 user=$3 password=$4 root=$WORK/$1 pid i
  mkdir -p "$root/storage"
  htpasswd -Bbn "$user" "$password" >"$root/htpasswd" 2>/dev/null
  cat >"$root/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $root/storage
  delete:
    enabled: true
http:
  addr: $ip:443
  secret: ecr-bench-not-a-secret
  tls:
    certificate: $WORK/pki/server.pem
    key: $WORK/pki/server.key
auth:
  htpasswd:
    realm: ecr-bench
    path: $root/htpasswd
EOF
  python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], 443))' "$ip" 2>/dev/null ||
    die "$ip:443 is busy and not by a registry of an earlier benchmark run: stop whatever listens there"
  docker-registry serve "$root/config.yml" >"$root/registry.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  echo "$pid" >"$STATE/$name.pid"
  for ((i = 0; i < 300; i++)); do
    if python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], 443), 0.2).close()' "$ip" 2>/dev/null; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "docker-registry $name exited: $(tail -5 "$root/registry.log")"
    sleep 0.05
  done
  die "docker-registry $name did not listen on $ip:443 within 15 s"
}

# --- the images ----------------------------------------------------------------------------------

# make_layout: one OCI layout holding the six services' images, tag = service name, and
# $WORK/images.json: each image's digest, blob count and bytes, and the unique bytes of all.
make_layout() {
  # shellcheck disable=SC2086 # SERVICE_LAYERS_MB is a list of sizes
  python3 - "$WORK/layout" "$WORK/images.json" "$BASE_MB" "${SERVICES[*]}" $SERVICE_LAYERS_MB <<'EOF'
import hashlib, json, os, sys
out, summary_path, base_mb, services, *layer_mbs = sys.argv[1:]
blobs_dir = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs_dir, exist_ok=True)
MB = 10**6

def put_bytes(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs_dir, digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}

def put_random(size):
    staging = os.path.join(out, "blobs", "staging")
    sha = hashlib.sha256()
    with open(staging, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            sha.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    os.rename(staging, os.path.join(blobs_dir, sha.hexdigest()))
    return {"digest": "sha256:" + sha.hexdigest(), "size": size}

def pretty(value):
    return (json.dumps(value, indent=2) + "\n").encode()

layer_type = "application/vnd.oci.image.layer.v1.tar"
base = put_random(int(float(base_mb) * MB))
unique = {base["digest"]: base["size"]}
refs, images = [], {}
for service in services.split():
    layers = [base] + [put_random(int(float(mb) * MB)) for mb in layer_mbs]
    config = put_bytes(pretty({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"com.currents.service": service}},
        "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]},
    }))
    manifest = pretty({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [{"mediaType": layer_type, **l} for l in layers],
    })
    top = put_bytes(manifest)
    refs.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **top,
                 "annotations": {"org.opencontainers.image.ref.name": service}})
    for blob in [config] + layers:
        unique[blob["digest"]] = blob["size"]
    images[service] = {"digest": top["digest"], "blobs": 1 + len(layers),
                       "bytes": config["size"] + sum(l["size"] for l in layers)}
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}\n')
with open(os.path.join(out, "index.json"), "wb") as f:
    f.write(pretty({"schemaVersion": 2, "manifests": refs}))
with open(summary_path, "w") as f:
    json.dump({"images": images, "sizes": unique, "unique_bytes": sum(unique.values()),
               "image_bytes": sum(i["bytes"] for i in images.values()),
               "blobs": sum(i["blobs"] for i in images.values())}, f, indent=2)
EOF
}

image_digest() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["images"][sys.argv[2]]["digest"])' \
    "$WORK/images.json" "$1"
}

# skopeo_with_cache DIR: sets SKOPEO to skopeo with a private HOME, no ambient registry
# credentials, and DIR (created) in place of its blob info cache. Run as root, skopeo keeps that
# cache in /var/lib/containers/cache and uses it to mount blobs it has seen in one repository
# into another: a private mount namespace binds DIR over it, so that each round starts as cold
# as our mirror does and the machine's own cache is neither read nor written.
skopeo_with_cache() {
  mkdir -p "$1"
  # shellcheck disable=SC2016 # the inner shell expands them
  SKOPEO=(unshare --mount sh -c 'mount --bind "$0" "$1" && shift && exec "$@"' "$1" "$SKOPEO_SYSTEM_CACHE"
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$WORK/skopeo-home"
    XDG_RUNTIME_DIR="$WORK/skopeo-home" REGISTRY_AUTH_FILE="$WORK/skopeo-home/no-auth.json" skopeo)
}

# make_skopeo_cache_mount_point: the bind needs the directory; one made here goes again in the
# cleanup.
make_skopeo_cache_mount_point() {
  if [[ ! -d $SKOPEO_SYSTEM_CACHE ]]; then
    mkdir -p "$SKOPEO_SYSTEM_CACHE"
    MADE_SKOPEO_CACHE=1
  fi
}

seed_source() {
  local service
  mkdir -p "$WORK/skopeo-home"
  skopeo_with_cache "$WORK/skopeo-cache/seed"
  for service in "${SERVICES[@]}"; do
    "${SKOPEO[@]}" copy --quiet --preserve-digests --dest-creds "AWS:$SOURCE_PASSWORD" \
      "oci:$WORK/layout:$service" "docker://$SOURCE_HOST/$SOURCE_PATH/$service:$TAG" ||
      die "seeding $service failed"
    [[ $(target_digest "$SOURCE_HOST/$SOURCE_PATH/$service:$TAG" "AWS:$SOURCE_PASSWORD") == "$(image_digest "$service")" ]] ||
      die "the source's $service:$TAG is not the image as built"
  done
}

# target_digest REFERENCE CREDS: the digest skopeo reads for REFERENCE.
target_digest() {
  "${SKOPEO[@]}" inspect --no-tags --creds "$2" --format '{{.Digest}}' "docker://$1"
}

# check_copies PREFIX: every service's PREFIX/SERVICE:TAG on the target is the source's digest.
check_copies() {
  local prefix=$1 service got
  for service in "${SERVICES[@]}"; do
    got=$(target_digest "$TARGET_HOST/$prefix$service:$TAG" "$TARGET_USER:$TARGET_PASSWORD") ||
      die "the target has no $prefix$service:$TAG"
    [[ $got == "$(image_digest "$service")" ]] ||
      die "$TARGET_HOST/$prefix$service:$TAG is $got, not the source's $(image_digest "$service")"
  done
}

# --- the copiers ---------------------------------------------------------------------------------

make_env() {
  mkdir -p "$WORK/home" "$WORK/docker" "$WORK/xdg-cache" "$WORK/xdg-state" "$WORK/xdg-config"
  : >"$WORK/home/aws-config"
  : >"$WORK/home/aws-credentials"
  local auth
  auth=$(printf '%s:%s' "$TARGET_USER" "$TARGET_PASSWORD" | base64 -w0)
  printf '{\n  "auths": {\n    "%s": {\n      "auth": "%s"\n    }\n  }\n}\n' "$TARGET_HOST" "$auth" \
    >"$WORK/docker/config.json"
  MIRROR_ENV=(
    "PATH=$HELPER_DIR:/usr/local/bin:/usr/bin:/bin"
    "HOME=$WORK/home"
    "XDG_CACHE_HOME=$WORK/xdg-cache"
    "XDG_STATE_HOME=$WORK/xdg-state"
    "XDG_CONFIG_HOME=$WORK/xdg-config"
    "DOCKER_CONFIG=$WORK/docker"
    "DOCKER_HOST=unix:///nonexistent/docker.sock"
    "AWS_CONFIG_FILE=$WORK/home/aws-config"
    "AWS_SHARED_CREDENTIALS_FILE=$WORK/home/aws-credentials"
    "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"
    "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    "AWS_EC2_METADATA_DISABLED=true"
    "AWS_ENDPOINT_URL_ECR=http://$FAKE_API"
  )
}

# peak_rss_run RSSFILE COMMAND...: runs COMMAND, writing its peak RSS in KiB to RSSFILE
# (/usr/bin/time -v, else the highest VmHWM polled every 20 ms); returns COMMAND's status.
peak_rss_run() {
  local rss_file=$1 status=0
  shift
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -v -o "$rss_file.time" "$@" || status=$?
    sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$rss_file.time" >"$rss_file"
    return "$status"
  fi
  "$@" &
  local pid=$! peak=0 hwm
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    if [[ -n $hwm ]] && ((hwm > peak)); then
      peak=$hwm
    fi
    sleep 0.02
  done
  wait "$pid" || status=$?
  echo "$peak" >"$rss_file"
  return "$status"
}

# run_ours LABEL PREFIX: our mirror of the six images into PREFIX; stdout, stderr and peak RSS
# under $RESULTS_DIR/LABEL.*.
run_ours() {
  local label=$1 prefix=$2 sources=() service
  for service in "${SERVICES[@]}"; do
    sources+=("$SOURCE_HOST/$SOURCE_PATH/$service:$TAG")
  done
  (cd "$WORK" && peak_rss_run "$RESULTS_DIR/$label.rss" env -i "${MIRROR_ENV[@]}" "$OURS" mirror \
    "${sources[@]}" --to "$TARGET_HOST/$prefix" </dev/null >"$RESULTS_DIR/$label.out" 2>"$RESULTS_DIR/$label.err") ||
    die "$label: the mirror failed: $(cat "$RESULTS_DIR/$label.err")"
}

# run_skopeo LABEL PREFIX: a loop of six `skopeo copy` into PREFIX; the highest peak RSS of the
# six in $RESULTS_DIR/LABEL.rss.
run_skopeo() {
  local label=$1 prefix=$2 service peak=0 rss
  for service in "${SERVICES[@]}"; do
    peak_rss_run "$RESULTS_DIR/$label.one.rss" "${SKOPEO[@]}" copy --quiet --preserve-digests \
      --src-creds "AWS:$SOURCE_PASSWORD" --dest-creds "$TARGET_USER:$TARGET_PASSWORD" \
      "docker://$SOURCE_HOST/$SOURCE_PATH/$service:$TAG" "docker://$TARGET_HOST/$prefix$service:$TAG" \
      </dev/null >>"$RESULTS_DIR/$label.out" 2>>"$RESULTS_DIR/$label.err" ||
      die "$label: skopeo copy of $service failed: $(tail -5 "$RESULTS_DIR/$label.err")"
    rss=$(cat "$RESULTS_DIR/$label.one.rss")
    if ((rss > peak)); then
      peak=$rss
    fi
  done
  rm -f "$RESULTS_DIR/$label.one.rss" "$RESULTS_DIR/$label.one.rss.time"
  echo "$peak" >"$RESULTS_DIR/$label.rss"
}

# measure COPIER LABEL PREFIX: one timed copy; appends "LABEL SECONDS UPLOADS MOUNTS PUTS" to
# $RESULTS_DIR/times.tsv, counted from the target's access log lines of the copy (the digests of
# the finished uploads in LABEL.uploads), and checks the target's digests.
measure() {
  local copier=$1 label=$2 prefix=$3 mark started ended
  skopeo_with_cache "$WORK/skopeo-cache/${label##*-}"
  sync
  mark=$(stat -c %s "$WORK/target/registry.log")
  started=$(date +%s.%N)
  "run_$copier" "$label" "$prefix"
  ended=$(date +%s.%N)
  tail -c +"$((mark + 1))" "$WORK/target/registry.log" >"$RESULTS_DIR/$label.target.log"
  skopeo_with_cache "$WORK/skopeo-cache/checks"
  check_copies "$prefix"
  python3 - "$label" "$started" "$ended" "$RESULTS_DIR/$label.target.log" <<'EOF' >>"$RESULTS_DIR/times.tsv"
import re, sys
label, started, ended, log = sys.argv[1:]
uploads = mounts = manifest_puts = 0
digests = []
for line in open(log, errors="replace"):
    found = re.search(r'"(\w+) (\S+) HTTP/[\d.]+" (\d{3}) ', line)
    if not found:
        continue
    method, target, status = found.group(1), found.group(2), int(found.group(3))
    path, _, query = target.partition("?")
    if "/blobs/uploads/" in path and method == "PUT" and status == 201:
        uploads += 1
        digests += [p[7:].replace("%3A", ":").replace("%3a", ":") for p in query.split("&") if p.startswith("digest=")]
    elif "/blobs/uploads/" in path and method == "POST" and status == 201 and "mount=" in query:
        mounts += 1
    elif "/manifests/" in path and method == "PUT" and status == 201:
        manifest_puts += 1
with open(log.replace(".target.log", ".uploads"), "w") as out:
    out.write("".join(d + "\n" for d in digests))
print(f"{label}\t{float(ended) - float(started):.3f}\t{uploads}\t{mounts}\t{manifest_puts}")
EOF
  echo "  $(tail -1 "$RESULTS_DIR/times.tsv" | awk '{ printf "%s: %s s, %s blob uploads, %s mounts, %s manifest pushes", $1, $2, $3, $4, $5 }')"
}

# check_our_lines LABEL copied|"up to date": our mirror printed one line per image, each with
# the source's digest and the expected outcome.
check_our_lines() {
  local label=$1 outcome=$2 service line
  (($(wc -l <"$RESULTS_DIR/$label.out") == ${#SERVICES[@]})) ||
    die "$label: expected ${#SERVICES[@]} lines, got: $(cat "$RESULTS_DIR/$label.out")"
  for service in "${SERVICES[@]}"; do
    line=$(grep -F "$SOURCE_HOST/$SOURCE_PATH/$service:$TAG -> " "$RESULTS_DIR/$label.out") ||
      die "$label: no line for $service"
    [[ $line == *" $(image_digest "$service") $outcome"* ]] || die "$label: unexpected line: $line"
  done
}

# --- run -----------------------------------------------------------------------------------------

stop_leftovers
mkdir -p "$RESULTS_DIR"
: >"$RESULTS_DIR/times.tsv"
make_pki "ecr-e2e mirror bench throwaway CA" "$TARGET_HOST" "$SOURCE_HOST"
edit_hosts add "$SOURCE_IP $SOURCE_HOST" "$TARGET_IP $TARGET_HOST"
add_system_ca
start_fake
start_registry source "$SOURCE_IP" AWS "$SOURCE_PASSWORD"
start_registry target "$TARGET_IP" "$TARGET_USER" "$TARGET_PASSWORD"
make_env
make_skopeo_cache_mount_point
echo "== building the six images (base $BASE_MB MB + layers of $SERVICE_LAYERS_MB MB each)"
make_layout
echo "== seeding https://$SOURCE_HOST/$SOURCE_PATH/ ($SOURCE_IP:443)"
seed_source
echo "fake ECR at http://$FAKE_API; target https://$TARGET_HOST ($TARGET_IP:443); results in $RESULTS_DIR"

for ((round = 1; round <= ROUNDS; round++)); do
  echo "== round $round of $ROUNDS"
  order=(ours skopeo)
  if ((round % 2 == 0)); then
    order=(skopeo ours)
  fi
  for copier in "${order[@]}"; do
    measure "$copier" "$copier-first-r$round" "round$round-$copier/"
    measure "$copier" "$copier-again-r$round" "round$round-$copier/"
    if [[ $copier == ours ]]; then
      check_our_lines "ours-first-r$round" copied
      check_our_lines "ours-again-r$round" "up to date"
    fi
  done
done

# --- report --------------------------------------------------------------------------------------

python3 - "$RESULTS_DIR" "$WORK/images.json" "$ROUNDS" "$BASE_MB" "$SERVICE_LAYERS_MB" <<'EOF' | tee "$RESULTS_DIR/summary.md"
import glob, json, re, statistics, sys
results, images_path, rounds, base_mb, layers_mb = sys.argv[1:]
images = json.load(open(images_path))
rows = {}
for line in open(f"{results}/times.tsv"):
    label, secs, uploads, mounts, puts = line.split("\t")
    kind = label.rsplit("-r", 1)[0]
    rows.setdefault(kind, []).append((float(secs), int(uploads), int(mounts), int(puts)))

def median(kind, i=0):
    return statistics.median(r[i] for r in rows[kind])

def rss_mib(kind):
    values = [int(open(p).read().strip() or 0) for p in glob.glob(f"{results}/{kind}-r*.rss")]
    return max(values) / 1024

def uploaded(kind):
    """The bytes the target received in finished uploads, per round (the median)."""
    return statistics.median(
        sum(images["sizes"][d] for d in open(path).read().split())
        for path in glob.glob(f"{results}/{kind}-r*.uploads"))

def bytes_copied(kind):
    """The bytes our mirror's lines say it copied, per round (the median)."""
    per_round = []
    for path in sorted(glob.glob(f"{results}/{kind}-r*.out")):
        per_round.append(sum(int(m) for m in re.findall(r"\((\d+) bytes\)", open(path).read())))
    return statistics.median(per_round)

MB = 10**6
image_bytes, unique = images["image_bytes"], images["unique_bytes"]
verdicts = []
def verdict(ok):
    verdicts.append(ok)
    return "PASS" if ok else "MISS"

first_ours, first_sk = median("ours-first"), median("skopeo-first")
again_ours, again_sk = median("ours-again"), median("skopeo-again")
print(f"Six images, {image_bytes / MB:.0f} MB in all ({unique / MB:.0f} MB unique: a {base_mb} MB base "
      f"layer shared, layers of {layers_mb} MB each of its own), {images['blobs']} blobs; "
      f"medians of {rounds} rounds.")
print()
print("| row | docker-credential-ecr mirror | skopeo copy x6 | ours / skopeo | |")
print("| --- | ---: | ---: | ---: | --- |")
print(f"| first copy, wall time (s) | {first_ours:.2f} | {first_sk:.2f} | {first_ours / first_sk:.2f} | |")
print(f"| first copy, MB/s (image bytes / wall time) | {image_bytes / MB / first_ours:.0f} | "
      f"{image_bytes / MB / first_sk:.0f} | {first_sk / first_ours:.2f} | |")
print(f"| first copy, blob uploads / cross-repository mounts | {median('ours-first', 1):.0f} / "
      f"{median('ours-first', 2):.0f} | {median('skopeo-first', 1):.0f} / {median('skopeo-first', 2):.0f} | | |")
up_ours, up_sk = uploaded("ours-first"), uploaded("skopeo-first")
print(f"| first copy, bytes uploaded to the target (MB) | {up_ours / MB:.0f} | {up_sk / MB:.0f} | "
      f"{up_ours / up_sk:.2f} | |")
print(f"| first copy, upload MB/s (bytes uploaded / wall time) | {up_ours / MB / first_ours:.0f} | "
      f"{up_sk / MB / first_sk:.0f} | {(up_ours / first_ours) / (up_sk / first_sk):.2f} | |")
print(f"| first copy, bytes our mirror reports copied (MB) | {bytes_copied('ours-first') / MB:.0f} | | | |")
print(f"| re-run, all up to date, wall time (s) | {again_ours:.2f} | {again_sk:.2f} | {again_ours / again_sk:.2f} | |")
uploads_again = max(r[1] for r in rows["ours-again"])
print(f"| re-run, blob uploads (most of any round) | {uploads_again} | "
      f"{max(r[1] for r in rows['skopeo-again'])} | | {verdict(uploads_again == 0)} (0) |")
print(f"| re-run, manifest pushes (most of any round) | {max(r[3] for r in rows['ours-again'])} | "
      f"{max(r[3] for r in rows['skopeo-again'])} | | |")
print(f"| peak RSS, first copy (MiB) | {rss_mib('ours-first'):.1f} | {rss_mib('skopeo-first'):.1f} | "
      f"{rss_mib('ours-first') / rss_mib('skopeo-first'):.2f} | |")
print(f"| peak RSS, re-run (MiB) | {rss_mib('ours-again'):.1f} | {rss_mib('skopeo-again'):.1f} | | |")
print()
print("skopeo's RSS is the highest of its six processes. Every copy was checked: each target tag "
      "holds the source's digest (skopeo inspect).")
print(f"Targets met: {sum(verdicts)} of {len(verdicts)}.")
EOF
echo "raw times: $RESULTS_DIR/times.tsv"
