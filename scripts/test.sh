#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds, runs ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Real components the tests start: prometheus (promtool too), systemd
# (systemd-analyze), haproxy (the fleet), podman with runc and debootstrap
# (the container: its base image is made locally; catatonit is the pause
# process `podman kube play` builds for a pod), python3 (pykv), elfutils
# (eu-stack: a hung worker's stacks).
scripts/install-deps.sh prometheus systemd haproxy podman runc catatonit debootstrap python3 elfutils
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
