#!/usr/bin/env bash
# The build stage of docker/Dockerfile, also run by docker/test-rootfs.sh in a fresh
# Debian 12 rootfs and by the CI recipes of docs/ci/: install the build dependencies,
# build nrfprov-mock and nrfprov-sim without tests, and write the Debian package to
# OUT_DIR (as nrfprov-mock_<version>_<arch>.deb and a copy named nrfprov-mock.deb).
#
#   docker/build.sh OUT_DIR        (as root, or with sudo for apt-get)
#
# Environment: BUILD_DIR (default build-release, inside the source tree).
set -euo pipefail
out=${1:?usage: docker/build.sh OUT_DIR}
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-release}
./scripts/install-deps.sh build
./scripts/build.sh "$build" -DTESTS=OFF -DBENCH=OFF -DCMAKE_INSTALL_PREFIX=/usr
rm -f "$build"/nrfprov-mock_*.deb
(cd "$build" && cpack -G DEB >/dev/null)
mkdir -p "$out"
cp "$build"/nrfprov-mock_*.deb "$out/"
deb=$(basename "$(ls "$build"/nrfprov-mock_*.deb)")
cp "$out/$deb" "$out/nrfprov-mock.deb" # a copy, not a link: COPY --from and CI artifacts keep it whole
echo "docker/build.sh: $out/$deb"
dpkg-deb -f "$out/$deb" Depends
