#!/usr/bin/env bash
# Idle cost of the background refresher: resident memory and CPU time of `ecr-tray` and of
# `docker-credential-ecr agent`, each looking after one registry (12-hour tokens from the
# project's fake ECR, so nothing is due while measuring), on a private D-Bus session bus and an
# Xvfb display.
#
#   tests/bench/idle.sh                       release build, the default (ksni) tray backend
#   TRAY_FEATURES=appindicator tests/bench/idle.sh
#                                             the libappindicator/GTK backend (needs
#                                             libgtk-3-dev and libayatana-appindicator3-dev)
#
# Prints, per process: RSS after SETTLE seconds (default 60), and the CPU time it used in the
# following WINDOW seconds (default 60), from /proc (clock ticks of 10 ms).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

SETTLE=${SETTLE:-60}
WINDOW=${WINDOW:-60}
REGISTRY=123456789012.dkr.ecr.us-east-1.amazonaws.com
TARGET_DIR=target
if [[ -n ${TRAY_FEATURES:-} ]]; then
  # A separate target dir keeps the default build's artifacts.
  TARGET_DIR=target/bench-$TRAY_FEATURES
fi

cargo build --release --quiet -p docker-credential-ecr -p ecr-e2e --bin docker-credential-ecr --bin docker-credential-ecr-full --bin fake-ecr
# The non-default backends replace ksni, which tray-icon prefers when both are on.
CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --quiet -p ecr-tray ${TRAY_FEATURES:+--no-default-features --features "$TRAY_FEATURES"}
HELPER=$PWD/target/release/docker-credential-ecr
FAKE=$PWD/target/release/fake-ecr
TRAY=$PWD/$TARGET_DIR/release/ecr-tray

WORK=$(mktemp -d /tmp/ecr-idle-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/config XDG_CACHE_HOME=$WORK/cache XDG_STATE_HOME=$WORK/state
export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
export AWS_EC2_METADATA_DISABLED=true NO_AT_BRIDGE=1
mkdir -p "$HOME"
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"

"$FAKE" --lifetime-secs 43200 >"$WORK/fake.out" 2>"$WORK/fake.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q LISTENING "$WORK/fake.out" 2>/dev/null && break; sleep 0.05; done
API=$(sed -n 's/.*api=\([^ ]*\).*/\1/p' "$WORK/fake.out")
export AWS_ENDPOINT_URL_ECR=http://$API

eval "$(dbus-launch --sh-syntax)"
PIDS+=("$DBUS_SESSION_BUS_PID")
DISPLAY_NUM=$((90 + RANDOM % 9))
Xvfb ":$DISPLAY_NUM" -screen 0 800x600x24 -nolisten tcp >/dev/null 2>&1 &
PIDS+=($!)
export DISPLAY=:$DISPLAY_NUM
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done

printf '%s' 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' |
  "$HELPER" add "$REGISTRY" --name acme --access-key-id AKIAIOSFODNN7EXAMPLE --store file --no-configure >/dev/null

"$HELPER" agent 2>"$WORK/agent.log" &
AGENT=$!
PIDS+=($AGENT)
"$TRAY" >"$WORK/tray.out" 2>&1 &
TRAY_PID=$!
PIDS+=($TRAY_PID)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

sleep "$SETTLE"
for pid in $AGENT $TRAY_PID; do
  kill -0 "$pid" || { echo "process $pid died; logs in $WORK" >&2; cat "$WORK"/*.log >&2; exit 1; }
done
declare -A RSS START
for pid in $AGENT $TRAY_PID; do RSS[$pid]=$(rss_kib "$pid"); START[$pid]=$(ticks "$pid"); done
sleep "$WINDOW"
TICK_HZ=$(getconf CLK_TCK)
echo "backend: ${TRAY_FEATURES:-ksni (default)}; RSS after ${SETTLE} s; CPU used in the next ${WINDOW} s"
for entry in "agent:$AGENT" "ecr-tray:$TRAY_PID"; do
  name=${entry%%:*}
  pid=${entry##*:}
  used=$(($(ticks "$pid") - START[$pid]))
  awk -v n="$name" -v r="${RSS[$pid]}" -v t="$used" -v hz="$TICK_HZ" -v w="$WINDOW" \
    'BEGIN { printf "%-9s RSS %6.1f MiB   CPU %5.2f s in %d s (%.3f %%)\n", n, r / 1024, t / hz, w, 100 * t / hz / w }'
done
