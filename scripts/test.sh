#!/usr/bin/env bash
# Installs what is missing, builds, checks formatting, and runs every test: unit tests,
# fuzz corpora, and the integration suite (real server, AWS CLI and boto3 via pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
./scripts/lint.sh  # clang-format: fails on any unformatted source
ctest --test-dir build --output-on-failure -j2 "$@"
