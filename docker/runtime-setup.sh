#!/usr/bin/env bash
# The runtime stage of docker/Dockerfile, also run by docker/test-rootfs.sh: install the
# package made by docker/build.sh (apt-get pulls in exactly its Depends: the runtime
# libraries, nothing for building), add the unprivileged user nrfprov, and make the
# data directory that the image declares as a VOLUME.
#
#   docker/runtime-setup.sh PATH/TO/nrfprov-mock.deb     (as root)
set -euo pipefail
deb=${1:?usage: docker/runtime-setup.sh PATH/TO/nrfprov-mock.deb}
case $deb in /*) ;; *) deb=$PWD/$deb ;; esac
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$deb" >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*
if ! id nrfprov >/dev/null 2>&1; then
  useradd --system --user-group --uid 10001 --home-dir /var/lib/nrfprov-mock --no-create-home \
    --shell /usr/sbin/nologin nrfprov
fi
install -d -o nrfprov -g nrfprov -m 0700 /var/lib/nrfprov-mock
# Every library the programs need is there: both start far enough to print their help.
nrfprov-mock --help >/dev/null
nrfprov-sim --help >/dev/null
echo "docker/runtime-setup.sh: $(nrfprov-mock --version) installed"
