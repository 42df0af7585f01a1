#!/usr/bin/env bash
# Style gates: clang-format over every source (fails on any difference) and, with
# --tidy, clang-tidy over the given files (default: every .cpp under src/) using the
# build's compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t sources < <(find src fuzz bench \( -name '*.cpp' -o -name '*.hpp' \) | sort)
clang-format --dry-run --Werror "${sources[@]}"
if [[ "${1:-}" == "--tidy" ]]; then
  shift
  [[ -f build/compile_commands.json ]] || { echo "build first (scripts/build.sh)" >&2; exit 1; }
  if [[ $# -gt 0 ]]; then files=("$@"); else mapfile -t files < <(find src -name '*.cpp' | sort); fi
  clang-tidy -p build --quiet "${files[@]}"
fi
