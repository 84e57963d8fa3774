#!/usr/bin/env bash
# The README's test command: installs what the tests need (tests/setup.sh), builds the
# workspace (the end-to-end tests run its binaries), runs every test (each test binary, whatever
# fails first), then every fuzz target for FUZZ_SECONDS (default 30) on a copy of its corpus.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/setup.sh
cargo build --workspace
cargo test --workspace --no-fail-fast
bash fuzz/run.sh "${FUZZ_SECONDS:-30}"
