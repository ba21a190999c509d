#!/usr/bin/env bash
# Installs the Debian 12 packages gpt4rec-serve builds and tests with, and only those that are missing.
# Idempotent and non-interactive; called by every Makefile target before configuring.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libtorch-dev libopenblas0-openmp
  librocksdb-dev
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
  libabsl-dev
  catch2
  libspdlog-dev libfmt-dev
  prometheus-cpp-dev
  libcli11-dev nlohmann-json3-dev
  libnats-dev nats-server
  python3 python3-grpcio python3-protobuf python3-torch python3-pip python3-venv
  systemd yamllint shellcheck
  chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} Debian packages present"
  exit 0
fi

echo "deps: installing missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: done"
