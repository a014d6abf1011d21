#!/usr/bin/env bash
# The demo, no AWS account needed: builds the Lambda bootstrap, starts moto server, creates real groups and replays
# events/ through the bootstrap under the Lambda Runtime Interface Emulator; prints outcomes, egress and the notice.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh tools
echo "demo: building the Lambda bootstrap (the first build compiles the AWS SDK: minutes)" >&2
cargo build --locked --quiet -p egress-guard-lambda -p egress-guard-cli --bins
target_dir=$(cargo metadata --format-version 1 --no-deps | .venv/tools/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
rie=$(.venv/tools/bin/python -c 'import samcli, pathlib; print(pathlib.Path(samcli.__file__).parent / "local/rapid/aws-lambda-rie-x86_64")')
exec .venv/tools/bin/python scripts/demo.py --bootstrap "$target_dir/debug/egress-guard-lambda" --rie "$rie" \
  --moto .venv/tools/bin/moto_server --cli "$target_dir/debug/egress-guard"
