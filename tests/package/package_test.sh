#!/usr/bin/env bash
# libbaton as a package: `cmake --install` baton's build into a scratch
# prefix, build hello_worker/ outside the tree against it (find_package, then
# pkg-config), and the C worker ckv with gcc and pkg-config baton-c; run each
# build under the installed baton: it serves, upgrades and stops.
#   tests/package/package_test.sh BUILD-DIR [SANITIZERS]
# SANITIZERS (address,undefined): the build's -fsanitize list; a sanitized
# libbaton.a links only into a worker built with the same.
set -euo pipefail
trap 'echo "package_test.sh: line $LINENO failed ($?)" >&2' ERR
build=$(cd "$1" && pwd)
flags=${2:+-fsanitize=$2}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/baton-package-XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=

cmake --install "$build" --prefix "$work/prefix" >/dev/null
baton=$work/prefix/bin/baton
pcdir=$(dirname "$(find "$work/prefix" -name baton.pc)")

echo "== find_package(baton)"
cmake -S "$here/hello_worker" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$work/cmake" >/dev/null
echo "== pkg-config baton: $(PKG_CONFIG_PATH=$pcdir pkg-config --modversion baton)"
# shellcheck disable=SC2046
g++ $flags -o "$work/hello_pkgconfig" "$here/hello_worker/main.cc" $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs baton)
echo "== pkg-config baton-c: the C worker ckv, compiled as C"
# shellcheck disable=SC2046
gcc -std=c11 $flags -o "$work/ckv" "$here/../../worker/examples/c/"*.c \
  $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs baton-c) -lhttp_parser

# Waits (bounded) for a line matching $1 in baton's log.
wait_log() {
  for _ in $(seq 300); do
    grep -q "$1" "$work/log" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "baton never logged '$1':"; cat "$work/log"; return 1
}

# Each worker and the start of its answer to GET /.
for worker in "$work/cmake/hello_worker" "$work/hello_pkgconfig" "$work/ckv"; do
  expected="hello from an installed libbaton"
  [ "$worker" = "$work/ckv" ] && expected="baton ckv (C)"
  echo "== $(basename "$worker") under the installed baton"
  "$baton" run --listen http=tcp://127.0.0.1:0 --control "$work/control.sock" -- "$worker" >"$work/log" 2>&1 &
  pid=$!
  wait_log "generation 1 serving"
  port=$(grep -m1 -o 'listening http=tcp://127.0.0.1:[0-9]*' "$work/log")
  port=${port##*:}
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n' >&3
  answer=$(cat <&3)
  exec 3<&-
  grep -qF "$expected" <<<"$answer" || { echo "unexpected answer: $answer"; exit 1; }
  "$baton" upgrade --wait --control "$work/control.sock"
  "$baton" stop --wait --control "$work/control.sock"
  wait "$pid"
  pid=
done
echo "package: the three builds served, upgraded and stopped"
