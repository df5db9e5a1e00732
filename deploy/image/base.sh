#!/bin/sh
# Make the local base image `localhost/changetrack-base:bookworm` from Debian's mirror, without a registry:
# debootstrap a minimal bookworm, then `podman import` it. The root filesystem is cached as a tarball under
# ${XDG_CACHE_HOME:-~/.cache}/changetrack, one per month (a new month gets the mirror's security updates).
#
#   deploy/image/base.sh [TAG]        # then: make image BASE=localhost/changetrack-base:bookworm
#
# MIRROR defaults to the first Debian URI of this machine's apt sources (deb.debian.org if there is none).
set -eu
TAG=${1:-localhost/changetrack-base:bookworm}
CACHE=${CHANGETRACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/changetrack}
TARBALL="$CACHE/bookworm-minbase-$(date -u +%Y-%m).tar"
if [ -z "${MIRROR:-}" ]; then
    MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
        | grep -Eo 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ') || true
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
mkdir -p "$CACHE"
if [ ! -s "$TARBALL" ]; then
    ROOT=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    trap 'rm -rf "$ROOT"' EXIT
    debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
        || { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
    # what debian:bookworm-slim leaves out too: documentation, manual pages, translations (and keeps out of
    # every package installed later), apt's caches (apt-get update refills them)
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/info/*' \
        >"$ROOT/etc/dpkg/dpkg.cfg.d/slim"
    find "$ROOT/usr/share/doc" -type f ! -name copyright -delete
    rm -rf "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/* "$ROOT"/usr/share/info/* \
        "$ROOT"/var/cache/apt/* "$ROOT"/var/lib/apt/lists/*
    rm -f "$CACHE"/bookworm-minbase-*.tar  # last month's
    tar -C "$ROOT" -cf "$TARBALL.part" . && mv "$TARBALL.part" "$TARBALL"
    podman rmi --force "$TAG" >/dev/null 2>&1 || true  # the tag now names last month's root filesystem
fi
podman image exists "$TAG" || podman import --quiet "$TARBALL" "$TAG" >/dev/null
echo "$TAG"
