#!/usr/bin/env bash
# install-deps.sh — installs the Debian packages tempo-adapter needs to build, test and demo.
#
# Called by `make`, `make run`, `make test` and .ci/run. Installs only what is missing, with
# apt-get (through sudo when not root). Safe to run repeatedly; prints nothing when all is there.
set -euo pipefail

PKGS=(
  build-essential gcc clang clang-format make pkg-config
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libssl-dev libyaml-dev
  libgnutls28-dev zlib1g-dev libcriterion-dev
  openssl curl ca-certificates python3 python3-yaml valgrind wrk procps iproute2
)
# kubectl renders manifests/ in tests/integration/test_manifests.py: Debian's only if none is here.
command -v kubectl >/dev/null 2>&1 || PKGS+=(kubernetes-client)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
