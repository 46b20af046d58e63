#!/usr/bin/env bash
# Installs the Debian packages baton needs to build and test, if any is missing.
#   scripts/install-deps.sh [EXTRA-PACKAGE...]
set -euo pipefail

# Extra package names on the command line are installed too (CI adds clang
# and libFuzzer's runtime for the fuzzing build).
packages=(g++ cmake make pkg-config libuv1-dev libspdlog-dev libcereal-dev
          libgtest-dev libcli11-dev libhttp-parser-dev libxxhash-dev
          nlohmann-json3-dev libtomlplusplus-dev prometheus-cpp-dev
          libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "run as root, or install sudo, to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
