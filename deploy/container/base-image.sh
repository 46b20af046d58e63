#!/usr/bin/env bash
# Makes the Dockerfile's base image, debian:12-slim, locally when no registry
# is reachable: a minimal bookworm from the same Debian archive apt uses here
# (debootstrap --variant=minbase), imported into podman under that tag. Once
# made it stays in podman's image store, so later runs reuse it.
#
#   deploy/container/base-image.sh            # make it unless it exists
#   deploy/container/base-image.sh --rebuild  # make it again
set -euo pipefail

readonly TAG=docker.io/library/debian:12-slim

if [[ "${1:-}" != --rebuild ]] && podman image exists "$TAG"; then
  echo "base image $TAG: already made"
  exit 0
fi
for tool in podman debootstrap; do
  command -v "$tool" > /dev/null || { echo "$tool not found: apt-get install podman debootstrap" >&2; exit 2; }
done

# The archive apt uses: deb822 sources first, then the one-line format.
mirror=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2> /dev/null || true)
if [[ -z "$mirror" ]]; then
  mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list 2> /dev/null || true)
fi
[[ -n "$mirror" ]] || { echo "no Debian archive found in apt's sources; is this Debian?" >&2; exit 2; }

root=$(mktemp -d /tmp/baton-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "making $TAG with debootstrap from $mirror (a few minutes, once)"
debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.log" 2>&1 ||
  { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# Slim like the real image: no apt lists, no docs beyond copyright.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/*/changelog*
tar -C "$root" -c . | podman import --change 'CMD ["bash"]' - "$TAG" > /dev/null
echo "base image $TAG: made"
