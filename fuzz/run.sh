#!/usr/bin/env bash
# Runs every fuzz target for SECONDS_PER_TARGET (default 30), one after another, each on a copy
# of its checked-in corpus (fuzz/corpus/<target>), so the checkout is never changed. Exits
# non-zero when any target finds a crash (the input is kept in fuzz/artifacts/<target>/), and
# prints each target's executions and coverage (libFuzzer's final stats).
#
# Needs cargo-fuzz (installed here when missing) and a nightly toolchain (`cargo +nightly`);
# without one it falls back to the stable toolchain with RUSTC_BOOTSTRAP=1.
#
#   bash fuzz/run.sh        # 30 s per target, as CI runs it
#   bash fuzz/run.sh 720    # the long run
set -euo pipefail

seconds="${1:-30}"
case "$seconds" in
'' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;;
esac
fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir"
targets=(host store_request product_config cache_record client_config_edit kubelet_request)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    echo "no nightly toolchain: building with RUSTC_BOOTSTRAP=1 on stable" >&2
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

"${fuzz[@]}" build
bin_dir="$fuzz_dir/target/$(rustc -vV | sed -n 's/^host: //p')/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=()
for target in "${targets[@]}"; do
    corpus="$work/corpus/$target"
    mkdir -p "$corpus" "$fuzz_dir/artifacts/$target"
    cp "$fuzz_dir/corpus/$target/"* "$corpus/"
    log="$work/$target.log"
    status=0
    # One process, one core; libFuzzer writes a crashing input to the artifact prefix.
    "$bin_dir/$target" -artifact_prefix="$fuzz_dir/artifacts/$target/" \
        -max_total_time="$seconds" -print_final_stats=1 "$corpus" >"$log" 2>&1 || status=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
    last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
    echo "$target: ${runs:-?} executions (${rate:-?}/s) in ${seconds}s; corpus $(ls "$corpus" | wc -l) files; last: ${last:-none}"
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        echo "$target FAILED (exit $status); its log ends:" >&2
        tail -n 40 "$log" >&2
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "crashes in: ${failed[*]} (inputs in $fuzz_dir/artifacts/)" >&2
    exit 1
fi
echo "no crash in ${#targets[@]} targets"
