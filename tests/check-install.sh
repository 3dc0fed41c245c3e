#!/usr/bin/env bash
# ctest install_tree: `cmake --install` of this build into a scratch prefix puts the two
# programs, their man pages, the fixtures and the docs where docs/install.md says, and
# the installed program runs from there (--version, --help). The .deb made from the same
# rules is installed and run in a fresh Debian rootfs by docker/test-rootfs.sh.
set -euo pipefail
build=${1:?usage: tests/check-install.sh BUILD_DIR}
dest=$(mktemp -d "${TMPDIR:-/tmp}/nrfprov-install.XXXXXX")
trap 'rm -rf "$dest"' EXIT
cmake --install "$build" --prefix "$dest/usr" >/dev/null
for f in bin/nrfprov-mock bin/nrfprov-sim share/man/man1/nrfprov-mock.1 share/man/man1/nrfprov-sim.1 \
  share/nrfprov-mock/fixtures/ca/nrf-cloud-coap-ca.pem share/nrfprov-mock/fixtures/demo.json \
  share/nrfprov-mock/fixtures/rules/nrf-cloud-onboarding-all.json share/doc/nrfprov-mock/install.md \
  share/doc/nrfprov-mock/ci/ci-job.sh share/doc/nrfprov-mock/ci/github-actions.yml; do
  [ -e "$dest/usr/$f" ] || { echo "check-install: $f is not installed" >&2; exit 1; }
done
"$dest/usr/bin/nrfprov-mock" --version | grep -q '^nrfprov-mock [0-9]' || { echo "check-install: --version" >&2; exit 1; }
grep -q -- '--proxy-port' "$dest/usr/share/man/man1/nrfprov-mock.1" || { echo "check-install: the man page lacks the options" >&2; exit 1; }
# Nothing of the tests, benchmarks or build tree is installed.
if find "$dest" -name 'it_*' -o -name 'unit_*' -o -name 'bench_*' -o -name '*.a' | grep -q .; then
  echo "check-install: test or build files installed" >&2
  exit 1
fi
echo "check-install: OK"
