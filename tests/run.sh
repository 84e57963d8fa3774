#!/usr/bin/env bash
# The README's test command: installs what the tests need (tests/setup.sh), builds the
# workspace (the end-to-end tests run its binaries), runs every test, then every fuzz target
# (fuzz targets join here with the fuzz/ directory).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/setup.sh
cargo build --workspace
cargo test --workspace --no-fail-fast

