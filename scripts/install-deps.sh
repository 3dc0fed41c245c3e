#!/usr/bin/env bash
# Install every package needed to build, run and test nrfprov-mock on Debian 12.
# Idempotent: installs only what is missing; uses sudo only when not root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libmicrohttpd-dev libcoap3-dev libcoap3-bin libmbedtls-dev libjansson-dev libcbor-dev
  libcsv-dev uuid-dev libsqlite3-dev libhttp-parser-dev
  libcriterion-dev libcurl4-openssl-dev curl python3-requests
  clang libclang-rt-14-dev
)

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
