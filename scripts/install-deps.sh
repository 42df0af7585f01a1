#!/usr/bin/env bash
# Installs the Debian packages keyward needs to build, test and benchmark.
# Idempotent and quiet: prints nothing and touches nothing when all are present.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config git
  libboost-dev libssl-dev libsqlite3-dev libpqxx-dev postgresql
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libcurl4-openssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format clang-tidy
  python3 python3-pytest python3-boto3 python3-cryptography awscli wrk jq
  iproute2 util-linux mount
  libldap2-dev slapd ldap-utils
  libjemalloc-dev libzstd-dev python3-zstandard
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
