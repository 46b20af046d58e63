#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs baton supervising the
# example worker (kvstore) on 127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cat <<MSG

baton is starting kvstore on http://127.0.0.1:8080. In another terminal:
  curl -s http://127.0.0.1:8080/stats          # pid and generation of the worker that answers
  curl -s -X PUT -d hello http://127.0.0.1:8080/kv/greeting
  kill -HUP \$(cat build/baton.pid)             # upgrade: a new generation starts, the old one drains
Ctrl-C here stops it gracefully.

MSG
exec build/bin/baton run --listen http=tcp://127.0.0.1:8080 --pid-file build/baton.pid -- build/bin/kvstore
