#!/usr/bin/env bash
# Quick start: install what is missing, build, and run keyward on the embedded
# default store (./keyward-data, 127.0.0.1:8787). Extra arguments go to `keyward server`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
exec ./build/bin/keyward server --data-dir ./keyward-data --listen 127.0.0.1:8787 "$@"
