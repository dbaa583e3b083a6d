#!/usr/bin/env bash
# Builds the base image that the Dockerfile's FROM lines name, from Debian's archive, because no
# container registry is reachable here: debootstrap (minbase variant) into a temporary folder,
# then `docker import`. Cached: returns at once when the tag already exists (--force rebuilds).
#
#   docker/base-image.sh [--force]
#
# Environment: BASE_IMAGE (tag to build, default leasehold-base/debian:bookworm),
#              DEBIAN_MIRROR (default http://deb.debian.org/debian), DEBIAN_SUITE (default bookworm).
set -euo pipefail

BASE_IMAGE="${BASE_IMAGE:-leasehold-base/debian:bookworm}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

force=0
[ "${1:-}" = "--force" ] && force=1

start=$(date +%s)
if [ "$force" = 0 ] && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "base-image: $BASE_IMAGE exists (cached, 0s)"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
# Downloaded .debs are kept between runs (git-ignored) so a rebuild does not fetch them again.
cache="${DEBOOTSTRAP_CACHE:-$root/.cache/debootstrap}"
mkdir -p "$cache"
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT

echo "base-image: debootstrap $DEBIAN_SUITE (minbase) from $DEBIAN_MIRROR"
debootstrap --variant=minbase --cache-dir="$cache" "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" \
  >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log"; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# Container-friendly apt: all of the suite's updates, no recommends, no docs/man pages, no caches.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $DEBIAN_MIRROR $DEBIAN_SUITE main
deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main
SOURCES
cat >"$rootfs/etc/apt/apt.conf.d/90container" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90container" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
# Keeps the image free of machine-specific files left by debootstrap.
: >"$rootfs/etc/hostname" 2>/dev/null || true
rm -f "$rootfs/etc/resolv.conf"

tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  - "$BASE_IMAGE" >/dev/null

size=$(docker image inspect -f '{{.Size}}' "$BASE_IMAGE")
echo "base-image: built $BASE_IMAGE ($((size / 1000000)) MB) in $(($(date +%s) - start))s"
