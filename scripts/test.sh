#!/usr/bin/env bash
# The whole test suite: installs the pinned tools, then format and lint, the template checks (sam validate, cfn-lint,
# checkov, sam build), and every test: core, adapters, the Lambda on moto, the template's event pattern on moto's
# EventBridge, and the release bootstrap under the Lambda Runtime Interface Emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all
export PATH="$PWD/.venv/tools/bin:$PATH" SAM_CLI_TELEMETRY=0

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "sam validate --lint"
sam validate --lint

step "cfn-lint template.yaml templates/spoke.yaml templates/region.yaml"
cfn-lint template.yaml templates/spoke.yaml templates/region.yaml

step "checkov (template.yaml, templates/spoke.yaml, templates/region.yaml)"
.venv/checkov/bin/checkov -f template.yaml -f templates/spoke.yaml -f templates/region.yaml --skip-download --compact --quiet

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "sam build (release bootstrap through cargo-lambda, as deployed)"
sam build

step "cargo test (core, adapters, Lambda on moto, event pattern, bootstrap under the RIE)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# The moto-backed test binaries: the tests/ crate's lambda_moto, organization, outlets, rie and template, and the CLI's
# tests/cli.
awk '/^ *Running / { moto = ($2 ~ /^(lambda_moto|organization|outlets|rie|template|tests\/cli)\.rs$/) }
     moto && /^test result:/ { passed += $4; failed += $6 }
     END { printf "\nend-to-end tests on moto: %d passed, %d failed\n", passed, failed }' "$log"
