#!/usr/bin/env bash
# Build a Docker base image for the hftperf reference stack without any registry:
# a minimal Debian bookworm (python3 + python3-venv) made with debootstrap from Debian's
# package mirror, then `docker import`ed under a tag. Useful behind an air gap and in CI.
#
#   scripts/docker-offline-base.sh [TAG]          (default tag: hftperf-base:bookworm)
#   hftperf stack up --backend docker --base-image hftperf-base:bookworm
#
# Needs root, debootstrap and a running Docker daemon. Environment: SUITE (bookworm),
# MIRROR (default: the Debian mirror this host's apt is configured with, read from
# /etc/apt/sources.list and /etc/apt/sources.list.d/*; deb.debian.org if none is found).
set -euo pipefail

TAG="${1:-${HFTPERF_DOCKER_BASE_IMAGE:-hftperf-base:bookworm}}"
SUITE="${SUITE:-bookworm}"

# The host's own Debian mirror: the first deb822 "URIs:" (or one-line "deb URL SUITE") that serves $SUITE
# and is not a security or third-party archive. Whatever mirror the host reaches, debootstrap reaches too.
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
      END { if (uri != "" && ok) print uri }' "$f" | grep -v -e security -e '^$' | head -n 1
  done | head -n 1
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i + 1) == suite) print $i; break } }' "$f"
  done | { grep -v security || true; } | head -n 1
}
MIRROR="${MIRROR:-$(host_mirror | head -n 1)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

if [ "$(id -u)" != 0 ]; then echo "docker-offline-base: must run as root (debootstrap)" >&2; exit 2; fi
for tool in debootstrap docker; do
  command -v "$tool" >/dev/null || { echo "docker-offline-base: $tool not found (apt-get install debootstrap docker.io)" >&2; exit 2; }
done
if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "docker-offline-base: $TAG already present"; exit 0
fi

DIR="$(mktemp -d /tmp/hftperf-rootfs.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$DIR" "$MIRROR" >"$DIR.log" 2>&1 \
  || { echo "docker-offline-base: debootstrap failed; see $DIR.log" >&2; exit 2; }
rm -rf "$DIR"/var/cache/apt/archives/*.deb "$DIR"/var/lib/apt/lists/*
# python3 on PATH is what the Dockerfile uses; `docker import` keeps no ENV/CMD, so set them here.
tar -C "$DIR" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$TAG" >/dev/null
rm -f "$DIR.log"
echo "docker-offline-base: created $TAG ($SUITE, python3 + python3-venv)"
