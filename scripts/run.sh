#!/usr/bin/env bash
# Install what is missing, build, and start nrfprov-mock with its SQLite store in
# ./nrfprov-data. Extra arguments go to nrfprov-mock (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh build -DTESTS=OFF -DBENCH=OFF
exec ./build/nrfprov-mock --data-dir ./nrfprov-data "$@"
