#!/usr/bin/env bash
# Configures and builds keyward (Release, Ninja, ccache) into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# Paths under the checkout count as relative for ccache, so a fresh clone in another
# folder reuses the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
