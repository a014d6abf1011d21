#!/usr/bin/env bash
# The whole test suite: installs the pinned tools, then format and lint, the template checks (sam validate, cfn-lint,
# checkov, sam build), and every test in two tiers: unit tests (no AWS), then end to end (the Lambda and the CLI on moto,
# the templates, and the release bootstrap under the Lambda Runtime Interface Emulator).
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

# Two tiers, each one cargo invocation over whole packages: a new test file or module is picked up without editing
# this script. A tier that runs no test, or ignores one, fails the run.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
tier() {
  local name=$1
  shift
  step "cargo test: $name"
  cargo test --locked "$@" 2>&1 | tee "$log"
  awk -v name="$name" '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
       END { printf "\n%s: %d passed, %d failed, %d ignored\n", name, passed, failed, ignored
             if (passed == 0 || failed > 0 || ignored > 0) { print name ": a tier must run tests, fail none and ignore none"; exit 1 } }' "$log"
}

# The core over in-memory fakes, the adapters over canned HTTP (aws-smithy-mocks), the Lambda's configuration: no
# server, no AWS. The same command is the fast local loop.
tier "unit tests (core, adapters, Lambda configuration; no AWS)" -p egress-guard-core -p egress-guard-aws -p egress-guard-lambda
# moto server behind the limits proxy, the release bootstrap under the Runtime Interface Emulator, the templates'
# event patterns on moto's EventBridge and their static checks, and the CLI binary.
tier "end-to-end tests (moto, the Runtime Interface Emulator, the templates, the CLI)" -p egress-guard-tests -p egress-guard-cli
