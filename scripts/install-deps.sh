#!/usr/bin/env bash
# Install every package needed to build, run and test nrfprov-mock on Debian 12.
# Idempotent: installs only what is missing; uses sudo only when not root.
#
#   scripts/install-deps.sh          everything: build, tests, fuzzing, benchmarks
#   scripts/install-deps.sh build    only what building the programs and their .deb
#                                    needs (docker/build.sh, the CI recipes of docs/ci/)
set -euo pipefail

build_packages=(
  build-essential cmake pkg-config file
  libmicrohttpd-dev libcoap3-dev libmbedtls-dev libjansson-dev libcbor-dev
  libcsv-dev uuid-dev libsqlite3-dev libhttp-parser-dev libcurl4-openssl-dev
)
packages=("${build_packages[@]}"
  libcoap3-bin libcriterion-dev curl jq python3-requests python3-yaml
  clang libclang-rt-14-dev
  chromium chromium-driver python3-selenium
)
case ${1:-all} in
  all) ;;
  build) packages=("${build_packages[@]}") ;;
  *) echo "usage: scripts/install-deps.sh [all|build]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
