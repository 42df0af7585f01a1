#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit tests, fuzz corpora,
# and the integration suite (real server, AWS CLI and boto3 via pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
ctest --test-dir build --output-on-failure -j2 "$@"
