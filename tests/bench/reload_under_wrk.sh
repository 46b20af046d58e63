#!/usr/bin/env bash
# Figures, not a test: wrk load against baton + kvstore on 127.0.0.1 while
# baton is upgraded (SIGHUP) every 500 ms, in keep-alive and in
# Connection: close mode. Prints requests, errors and upgrades per mode.
#   tests/bench/reload_under_wrk.sh [seconds=10]
# Needs wrk (apt-get install wrk) and a build (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
[ -x build/bin/baton ] || scripts/build.sh

work=$(mktemp -d)
baton_pid=""
cleanup() {
  [ -n "$baton_pid" ] && kill -TERM "$baton_pid" 2>/dev/null && wait "$baton_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

run_mode() {  # $1 = label, rest = extra wrk args
  local label=$1; shift
  build/bin/baton run --listen http=tcp://127.0.0.1:0 --pid-file "$work/pid" -- build/bin/kvstore \
    2> "$work/log" &
  baton_pid=$!
  until grep -q "generation 1 serving" "$work/log" 2>/dev/null; do
    kill -0 "$baton_pid" || { cat "$work/log"; exit 1; }
    sleep 0.05
  done
  local port
  port=$(sed -n 's/.*listening http=tcp:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/log")
  ( end=$((SECONDS + duration)); while [ $SECONDS -lt "$end" ]; do sleep 0.5; kill -HUP "$baton_pid"; done ) &
  local hupper=$!
  wrk -t2 -c50 -d"${duration}s" "$@" "http://127.0.0.1:$port/" > "$work/wrk" 2>&1
  wait "$hupper"
  kill -TERM "$baton_pid"; wait "$baton_pid" || true; baton_pid=""
  local requests errors upgrades
  requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$work/wrk")
  errors=$(sed -n 's/.*Socket errors: \(.*\)/\1/p; s/.*Non-2xx or 3xx responses: \(.*\)/non-2xx \1/p' "$work/wrk")
  upgrades=$(grep -c "upgrade to generation [0-9]* complete" "$work/log" || true)
  printf "%-22s %10s requests  %3s upgrades  errors: %s\n" "$label" "$requests" "$upgrades" "${errors:-none}"
}

echo "baton + kvstore, wrk -t2 -c50 -d${duration}s, SIGHUP every 500 ms ($(nproc) cores, $(uname -r))"
run_mode "keep-alive"
run_mode "Connection: close" -H "Connection: close"
