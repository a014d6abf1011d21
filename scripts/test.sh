#!/usr/bin/env bash
# The whole test suite: installs the pinned tools, then format, lint, unit, property and moto end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all
export PATH="$PWD/.venv/tools/bin:$PATH" SAM_CLI_TELEMETRY=0

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (core, adapters, Lambda on moto)"
cargo test --workspace --locked
