#!/usr/bin/env bash
# Installs the Debian packages vitc needs (only those missing), then configures and builds
# incrementally into build/. Safe to run again: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake ninja-build g++ clang libclang-rt-14-dev pkg-config python3 libopencv-dev libdnnl-dev libcxxopts-dev nlohmann-json3-dev catch2)
# zlib1g-dev: vitc train reads the gzip-compressed MNIST/Fashion-MNIST IDX files (lib/train/dataset.cpp).
packages+=(zlib1g-dev)
# slurm-wlm and munge: tests/slurm/slurm_array.py runs scripts/slurm/batch.sbatch on a real one-node Slurm.
packages+=(slurm-wlm munge)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -f build/CMakeCache.txt ] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >&2
