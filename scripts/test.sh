#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds, runs ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
# prometheus (promtool too) and systemd (systemd-analyze) are started by tests.
scripts/install-deps.sh prometheus systemd
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
