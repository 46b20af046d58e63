#!/usr/bin/env bash
# upgrade_storm: the same HTTP load against baton and its peers, each
# upgraded every 500 ms the way its users upgrade it. Prints one table.
#
#   tests/bench/upgrade_storm.sh [seconds per run, default 10]
#
# Subjects: baton+kvstore (drain, handoff); nginx binary upgrade
# (USR2, WINCH, QUIT) and nginx -s reload; HAProxy master-worker reload
# (USR2) with and without socket passing; a tableflip HTTP server.
# Load: wrk -t2 -c50, keep-alive and "Connection: close", 127.0.0.1 only.
# Columns: requests; failed (wrk's socket errors + non-2xx); latency p50,
# p99, max; upgrades that took effect; processes left after a graceful stop.
# Installs what it needs from Debian (wrk, nginx, haproxy, golang,
# tableflip) and builds baton if needed. Ends only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
root=$PWD

scripts/install-deps.sh wrk nginx haproxy golang-go golang-github-cloudflare-tableflip-dev >&2
[ -x build/bin/baton ] || scripts/build.sh >&2

work=$(mktemp -d)
sessions=()
cleanup() {
  # Everything a subject started lives in its own session: end those, by pid.
  for sid in "${sessions[@]}"; do
    for pid in $(pgrep -s "$sid" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Our own tableflip server, from tests/bench/tableflip/main.go.
mkdir -p "$work/tf"
cp tests/bench/tableflip/main.go "$work/tf/"
(cd "$work/tf" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$work/gocache" go build -o tableflip-server .) >&2

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {  # port: until it answers, at most 10 s
  for _ in $(seq 200); do
    # A failed redirection on exec would end the script: try it in a subshell.
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing answers on port $1" >&2
  return 1
}

wait_file_change() {  # file old-content: until the file holds something else, at most 3 s
  for _ in $(seq 60); do
    [ -s "$1" ] && [ "$(cat "$1" 2>/dev/null)" != "$2" ] && return 0
    sleep 0.05
  done
  return 1
}

# ---- subjects: start_X DIR PORT (prints the session id), reload_X DIR, stop_X DIR, upgrades_X DIR

start_baton() {  # dir port mode
  setsid build/bin/baton run --mode "$3" --listen "http=tcp://127.0.0.1:$2" --pid-file "$1/pid" \
    --drain-timeout 10s -- build/bin/kvstore >"$1/log" 2>&1 &
  echo $!
}
reload_baton() { kill -HUP "$(cat "$1/pid")"; }
stop_baton() { kill -TERM "$(cat "$1/pid")"; }
upgrades_baton() { grep -c "upgrade to generation [0-9]* complete" "$1/log" || true; }

nginx_conf() {  # dir port
  # daemon on: nginx ignores USR2 unless its master was re-parented, which a
  # daemonized master is. It makes its own session, whose id is its pid.
  cat >"$1/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log notice;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$2;
    location / { return 200 "ok\n"; }
  }
}
EOF
}
start_nginx() {
  nginx_conf "$1" "$2"
  # By absolute path: USR2 re-executes argv[0] without a PATH search.
  "$(command -v nginx)" -c "$1/nginx.conf" -p "$1" >"$1/log" 2>&1
  until [ -s "$1/nginx.pid" ]; do sleep 0.05; done
  cat "$1/nginx.pid"
}
# The documented binary upgrade: USR2 starts a new master, WINCH retires the
# old workers gracefully, QUIT ends the old master.
reload_nginx_binary() {
  local old
  old=$(cat "$1/nginx.pid")
  kill -USR2 "$old"
  if wait_file_change "$1/nginx.pid" "$old"; then
    kill -WINCH "$old"
    kill -QUIT "$old"
    echo ok >>"$1/upgrades"
  fi
}
reload_nginx_reload() {
  nginx -c "$1/nginx.conf" -p "$1" -s reload 2>>"$1/log" && echo ok >>"$1/upgrades"
}
stop_nginx() { kill -QUIT "$(cat "$1/nginx.pid")"; }
upgrades_nginx() { [ -f "$1/upgrades" ] && wc -l <"$1/upgrades" || echo 0; }

start_haproxy() {  # dir port socket-passing(yes|no)
  local expose=""
  [ "$3" = yes ] && expose="stats socket $1/admin.sock mode 600 level admin expose-fd listeners"
  cat >"$1/haproxy.cfg" <<EOF
global
  master-worker
  pidfile $1/haproxy.pid
  maxconn 8000
  $expose
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option idle-close-on-response
frontend www
  bind 127.0.0.1:$2
  http-request return status 200 content-type text/plain string "ok"
EOF
  setsid haproxy -W -db -f "$1/haproxy.cfg" >"$1/log" 2>&1 &
  echo $!
}
reload_haproxy() { kill -USR2 "$(head -1 "$1/haproxy.pid")"; }
stop_haproxy() { kill -USR1 "$(head -1 "$1/haproxy.pid")"; }  # soft stop
upgrades_haproxy() { local n; n=$(grep -c "New worker" "$1/log" || true); echo $((n > 0 ? n - 1 : 0)); }

start_tableflip() {
  setsid "$work/tf/tableflip-server" -listen "127.0.0.1:$2" -pid-file "$1/pid" >"$1/log" 2>&1 &
  echo $!
}
reload_tableflip() {
  local old
  old=$(cat "$1/pid")
  kill -HUP "$old"
  wait_file_change "$1/pid" "$old" && echo ok >>"$1/upgrades"
}
stop_tableflip() { kill -TERM "$(cat "$1/pid")"; }
upgrades_tableflip() { [ -f "$1/upgrades" ] && wc -l <"$1/upgrades" || echo 0; }

# ---- one run ----------------------------------------------------------------

latency() { awk -v p="$2" '$1 == p {print $2}' "$1"; }

run() {  # label kind reload-fn start-args... ; mode from $mode
  local label=$1 kind=$2 reload=$3
  shift 3
  local dir port sid
  dir=$(mktemp -d "$work/run.XXXX")
  port=$(free_port)
  sid=$("start_$kind" "$dir" "$port" "$@")
  sessions+=("$sid")
  wait_http "$port"
  case $kind in baton) until [ -s "$dir/pid" ]; do sleep 0.05; done ;; esac
  (
    end=$((SECONDS + duration))
    while [ $SECONDS -lt $end ]; do
      sleep 0.5
      "$reload" "$dir" || true
    done
  ) &
  local reloader=$!
  local header=()
  [ "$mode" = close ] && header=(-H "Connection: close")
  wrk -t2 -c50 -d"${duration}s" --latency "${header[@]}" "http://127.0.0.1:$port/" >"$dir/wrk" 2>&1 || true
  wait "$reloader"
  "stop_$kind" "$dir" 2>/dev/null || true
  for _ in $(seq 100); do [ -z "$(pgrep -s "$sid")" ] && break; sleep 0.1; done
  local left
  left=$( (pgrep -s "$sid" || true) | wc -l)
  for pid in $(pgrep -s "$sid"); do kill -KILL "$pid" 2>/dev/null || true; done

  local requests errors non2xx failed
  requests=$(awk '/requests in/ {print $1}' "$dir/wrk")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$dir/wrk")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$dir/wrk")
  failed=$(( ${errors:-0} + ${non2xx:-0} ))
  printf "| %-40s | %-10s | %9s | %6s | %8s | %8s | %8s | %8s | %4s |\n" "$label" "$mode" "${requests:-0}" "$failed" \
    "$(latency "$dir/wrk" 50%)" "$(latency "$dir/wrk" 99%)" "$(awk '/Latency/ && !/Distribution/ {print $4; exit}' "$dir/wrk")" \
    "$("upgrades_$kind" "$dir")" "$left"
}

echo "upgrade_storm: wrk -t2 -c50 -d${duration}s against 127.0.0.1, an upgrade every 500 ms"
echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
echo "| subject                                  | load       |  requests | failed |      p50 |      p99 |      max | upgrades | left |"
echo "|------------------------------------------|------------|-----------|--------|----------|----------|----------|----------|------|"
for mode in keep-alive close; do
  run "baton drain (SIGHUP)" baton reload_baton drain
  run "baton handoff (SIGHUP)" baton reload_baton handoff
  run "nginx binary upgrade (USR2/WINCH/QUIT)" nginx reload_nginx_binary
  run "nginx -s reload" nginx reload_nginx_reload
  run "HAProxy -W reload, socket passing" haproxy reload_haproxy yes
  run "HAProxy -W reload, no socket passing" haproxy reload_haproxy no
  run "tableflip (SIGHUP)" tableflip reload_tableflip
done
