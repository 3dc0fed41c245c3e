#!/usr/bin/env bash
# Test the container image's steps without a container runtime: run the same scripts
# that docker/Dockerfile runs inside fresh Debian 12 root filesystems (debootstrap +
# chroot), then install and use the result as a user would (docs/install.md).
#
#   sudo docker/test-rootfs.sh          (root; needs debootstrap and Debian's mirror)
#
# 1. Build stage: a fresh rootfs, the source tree copied in, docker/build.sh /out (build
#    dependencies from scripts/install-deps.sh build, the programs, the .deb).
# 2. Runtime stage: another fresh rootfs, docker/runtime-setup.sh with that .deb. Checked:
#    no compiler and no -dev package came in; the programs start.
# 3. As the image runs it: user nrfprov, the image's NRFPROV_* settings (data in
#    /var/lib/nrfprov-mock), free ports on 127.0.0.1: ready, `nrfprov-mock probe` (the
#    HEALTHCHECK) answers 0, state.db is written, SIGTERM stops it with status 0.
# 4. The CI recipe's job (docs/ci/ci-job.sh) in that runtime rootfs, as user nrfprov,
#    with the installed programs and curl (the job's own tool, added after step 2's
#    check): two simulated devices provisioned, one through the proxy, one over CoAPs.
#
# Not part of scripts/test.sh: the first run downloads a Debian base and the build
# dependencies (8 minutes measured); reruns reuse the caches in /var/cache/nrfprov-mock
# (NRFPROV_ROOTFS_CACHE) and take about 3 minutes (docs/install.md has the figures).
# Everything made here is under one temporary directory, unmounted and removed at exit.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cache=${NRFPROV_ROOTFS_CACHE:-/var/cache/nrfprov-mock}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=$cache/bookworm-minbase-rootfs.tar
started=$(date +%s)

[ "$(id -u)" -eq 0 ] || { echo "test-rootfs: run as root (debootstrap and chroot)" >&2; exit 1; }
work=$(mktemp -d /var/tmp/nrfprov-rootfs.XXXXXX)
mounts=()
mock_pid=""
# The two roots live in memory (about 1.2 GB at most) unless NRFPROV_ROOTFS_TMPFS=0:
# removing a gigabyte of small files from disk took two minutes, unmounting takes none.
if [ "${NRFPROV_ROOTFS_TMPFS:-1}" = 1 ]; then
  mount -t tmpfs -o size=4g,mode=0755 nrfprov-rootfs "$work" && mounts+=("$work")
fi

cleanup() {
  local rc=$? m i
  if [ -n "$mock_pid" ]; then
    kill -TERM "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
  fi
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    m=${mounts[i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  # Never remove through a mount that is still there (a bind mount would take the cache).
  if ! grep -q " $work[/ ]" /proc/mounts; then
    rm -rf --one-file-system "$work"
  else
    echo "test-rootfs: $work still has mounts; left in place" >&2
  fi
  if [ "$rc" -eq 0 ]; then echo "test-rootfs: OK in $(($(date +%s) - started)) s"; else echo "test-rootfs: FAILED" >&2; fi
  exit "$rc"
}
trap cleanup EXIT

say() { printf '\n== %s (%d s)\n' "$*" "$(($(date +%s) - started))"; }
fail() {
  echo "test-rootfs: $*" >&2
  exit 1
}

# A pristine Debian 12 minbase root, made once with debootstrap and kept as a tar file.
if [ ! -s "$base" ]; then
  say "debootstrap bookworm (once; cached in $base)"
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
  mkdir -p "$cache"
  debootstrap --variant=minbase bookworm "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    fail "debootstrap failed: $(tail -n 5 "$work/debootstrap.log")"
  tar -C "$work/base" --numeric-owner -cf "$base.tmp" . && mv "$base.tmp" "$base"
  rm -rf --one-file-system "$work/base"
fi

# fresh_root DIR: a new rootfs from the pristine one, with /proc, DNS and the shared
# apt package cache (so reruns do not download the build dependencies again).
fresh_root() {
  local dir=$1
  mkdir -p "$dir" "$cache/apt-archives/partial"
  tar -C "$dir" --numeric-owner -xf "$base"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  mount -t proc proc "$dir/proc" && mounts+=("$dir/proc")
  mount --bind "$cache/apt-archives" "$dir/var/cache/apt/archives" && mounts+=("$dir/var/cache/apt/archives")
}
in_root() {
  local dir=$1
  shift
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$dir" "$@"
}

say "build stage: fresh rootfs, docker/build.sh /out (the Dockerfile's first RUN)"
broot=$work/build-root
fresh_root "$broot"
mkdir -p "$broot/src"
# The source tree as the image's build context sees it: tracked and new files, no build trees.
(cd "$src" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -C "$broot/src" -xf -
in_root "$broot" /bin/bash -c 'cd /src && docker/build.sh /out' >"$work/build.log" 2>&1 ||
  fail "docker/build.sh failed: $(tail -n 20 "$work/build.log")"
tail -n 12 "$work/build.log"
deb=$(readlink -f "$broot/out/nrfprov-mock.deb")
[ -s "$deb" ] || fail "no package in /out"

say "runtime stage: fresh rootfs, docker/runtime-setup.sh (the Dockerfile's second RUN)"
rroot=$work/run-root
fresh_root "$rroot"
in_root "$rroot" dpkg-query -W -f '${Package}\n' | sort >"$work/packages-before"
cp "$deb" "$rroot/tmp/nrfprov-mock.deb"
cp "$src/docker/runtime-setup.sh" "$rroot/tmp/runtime-setup.sh"
in_root "$rroot" /tmp/runtime-setup.sh /tmp/nrfprov-mock.deb >"$work/runtime.log" 2>&1 ||
  fail "docker/runtime-setup.sh failed: $(tail -n 20 "$work/runtime.log")"
rm "$rroot/tmp/nrfprov-mock.deb" "$rroot/tmp/runtime-setup.sh"
in_root "$rroot" dpkg-query -W -f '${Package}\n' | sort >"$work/packages-after"
added=$(comm -13 "$work/packages-before" "$work/packages-after" | tr '\n' ' ')
echo "packages added: $added"
if grep -Eq '(-dev|^gcc|^cpp|^cmake|^make|^binutils|^curl)( |$)' <<<"${added// /$'\n'}"; then
  fail "the runtime rootfs got build tools: $added"
fi
echo "installed size: $(du -sh --exclude=proc "$rroot" | cut -f1) (runtime rootfs)"
version=$(dpkg-deb -f "$deb" Version)
[ "$(in_root "$rroot" nrfprov-mock --version)" = "nrfprov-mock $version" ] || fail "nrfprov-mock --version is not $version"
echo "nrfprov-mock --version: $version, as the package"

say "run as the image does: user nrfprov, data in /var/lib/nrfprov-mock, HEALTHCHECK probe"
chroot=$(command -v chroot)
# Numeric ids: the user exists only inside the runtime rootfs.
user="$(awk -F: '$1 == "nrfprov" {print $3}' "$rroot/etc/passwd"):$(awk -F: '$1 == "nrfprov" {print $3}' "$rroot/etc/group")"
[ "$user" != ":" ] || fail "no user nrfprov in the runtime rootfs"
mkfifo "$rroot/tmp/ready-line"
env -i PATH=/usr/bin:/bin HOME=/var/lib/nrfprov-mock NRFPROV_BIND=127.0.0.1 \
  NRFPROV_DATA_DIR=/var/lib/nrfprov-mock NRFPROV_PROXY_PORT=0 NRFPROV_HTTP_PORT=0 NRFPROV_HTTPS_PORT=0 \
  NRFPROV_COAP_PORT=0 NRFPROV_COAPS_PORT=0 \
  "$chroot" --userspec="$user" "$rroot" nrfprov-mock >"$rroot/tmp/ready-line" 2>"$work/mock.log" &
mock_pid=$!
exec 3<"$rroot/tmp/ready-line"
read -r -t 30 line <&3 || fail "no ready line: $(cat "$work/mock.log")"
exec 3<&-
echo "$line"
re=' http=[^ ]+:([0-9]+)'
[[ $line =~ $re ]] || fail "no http port in the ready line"
port=${BASH_REMATCH[1]}
env -i PATH=/usr/bin:/bin "$chroot" --userspec="$user" "$rroot" \
  nrfprov-mock probe --url "http://127.0.0.1:$port/_mock/health" || fail "probe (the HEALTHCHECK) failed"
echo "probe: healthy"
[ -s "$rroot/var/lib/nrfprov-mock/state.db" ] || fail "no state.db in the data volume"
[ "$(stat -c %u:%g "$rroot/var/lib/nrfprov-mock/state.db")" = "$user" ] || fail "state.db is not the user's"
kill -TERM "$mock_pid"
wait "$mock_pid" || fail "nrfprov-mock exited with status $? on SIGTERM"
mock_pid=""
echo "stopped with status 0; data: $(ls "$rroot/var/lib/nrfprov-mock" | tr '\n' ' ')"

say "the CI job (docs/ci/ci-job.sh) in the runtime rootfs, with the installed programs"
in_root "$rroot" /bin/bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends curl >/dev/null' \
  >"$work/curl.log" 2>&1 || fail "cannot install curl: $(tail -n 5 "$work/curl.log")"
mkdir -p "$rroot/opt/ci"
cp "$src/docs/ci/ci-job.sh" "$rroot/opt/ci/ci-job.sh"
env -i PATH=/usr/bin:/bin HOME=/tmp "$chroot" --userspec="$user" "$rroot" \
  /bin/bash -c 'cd /tmp && /opt/ci/ci-job.sh /tmp/ci-artifacts' || fail "ci-job.sh failed"
