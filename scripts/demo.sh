#!/usr/bin/env bash
# Quick start: installs what is missing, builds, runs baton supervising the
# example worker (kvstore) on 127.0.0.1:${PORT:-8080} in handoff mode, and
# walks through what only baton does: an upgrade that keeps the in-memory
# state and the open connections. baton then keeps running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh curl   # the walkthrough talks to kvstore with curl
scripts/build.sh >/dev/null
port=${PORT:-8080}
url=http://127.0.0.1:$port
baton=build/bin/baton
log=build/demo-baton.log

"$baton" run --listen "http=tcp://127.0.0.1:$port" --mode handoff --name demo -- build/bin/kvstore >"$log" 2>&1 &
pid=$!
trap '"$baton" stop --wait --name demo >/dev/null 2>&1 || true; exit 0' INT TERM
for _ in $(seq 100); do
  "$baton" status --name demo >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$log"; echo "baton did not start (is port $port taken? try PORT=8081 $0)"; exit 1; }
  sleep 0.1
done

step() { printf '\n\033[1m$ %s\033[0m   # %s\n' "$1" "$2"; eval "$1"; }
# A keep-alive connection held open across the upgrade (bash's /dev/tcp).
get_on_kept_connection() {
  printf 'GET /kv/greeting HTTP/1.1\r\nHost: demo\r\n\r\n' >&3
  local line length=0
  while IFS= read -r line <&3 && [ "$line" != $'\r' ]; do
    case "$line" in Content-Length:*) length=${line#Content-Length: }; length=${length%$'\r'} ;; esac
  done
  head -c "$length" <&3; echo
}

echo "baton (pid $pid) serves kvstore on $url in handoff mode; its log: $log"
step "curl -s -X PUT -d hello $url/kv/greeting" "store a key in the worker's memory"
exec 3<>"/dev/tcp/127.0.0.1/$port"
step "get_on_kept_connection" "read it on a keep-alive connection we keep open"
step "$baton status --name demo" "generation 1 serves"
step "$baton upgrade --wait --name demo" "new worker process; state and connections handed over"
step "curl -s $url/kv/greeting; echo" "the key is still there"
step "get_on_kept_connection" "the same connection still works, now served by generation 2"
step "$baton status --name demo" "generation 2 serves; the last upgrade's pause and what moved"
exec 3<&-

cat <<MSG

baton keeps running. Try: curl -s $url/stats, $baton upgrade --wait --name demo,
kill -HUP $pid, or $baton status --json --name demo. Ctrl-C (or $baton stop --name demo) stops it.
Following its log:
MSG
tail -n +1 -f "$log" --pid=$pid
