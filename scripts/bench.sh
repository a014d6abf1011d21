#!/usr/bin/env bash
# The benchmark: builds egress-guard and a hello-world floor exactly as `sam build` does (cargo-lambda, release), then
# measures cold start, peak memory, warm handler time, AWS calls and a sweep (one group at a time and four at once)
# under the Lambda Runtime Interface Emulator,
# `egress-guard audit` over 10 regions x 500 groups, and `egress-guard recommend` on a group of 10 interfaces with
# 14 days of flow logs (half in CloudWatch Logs, half in S3).
# Usage: scripts/bench.sh [RUNS]   (default 20). Writes bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh tools
export PATH="$PWD/.venv/tools/bin:$PATH" SAM_CLI_TELEMETRY=0
sam build
# The floor and the CLI, built like the bootstrap (same flags, so they share its compiled dependencies).
cargo lambda build --release --locked --bin egress-guard-bench-hello
cargo lambda build --release --locked --bin egress-guard
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
rie=$(.venv/tools/bin/python -c 'import samcli, pathlib; print(pathlib.Path(samcli.__file__).parent / "local/rapid/aws-lambda-rie-x86_64")')
exec .venv/tools/bin/python scripts/bench.py --bootstrap .aws-sam/build/EgressGuardFunction/bootstrap \
  --hello "$target_dir/lambda/egress-guard-bench-hello/bootstrap" --cli "$target_dir/lambda/egress-guard/bootstrap" --rie "$rie" --moto .venv/tools/bin/moto_server \
  --runs "${1:-20}"
