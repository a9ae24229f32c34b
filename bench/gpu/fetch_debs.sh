#!/usr/bin/env bash
# fetch_debs.sh — download (not install) the Debian packages that
# run_gpu_checks.sh unpacks on a GPU machine without a package registry, into
# .sfdeps/debs of the repository (ignored by git; about 15 MB). Run it on a
# machine with apt, then carry .sfdeps/debs to the GPU machine and run
#   bash bench/gpu/run_gpu_checks.sh
# (README: "On a GPU machine without a registry").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="${1:-$root/.sfdeps/debs}"
mkdir -p "$dest"
cd "$dest"
packages=(
  libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0
  liblapacke liblapacke-dev libtmglib3
  libcjson1 libcjson-dev libfast-float-dev libfmt9 libfmt-dev
  libcmocka0 libcmocka-dev
  librdkafka1 librdkafka-dev
  pkgconf-bin libpkgconf3
)
if ! apt-get download "${packages[@]}" >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download "${packages[@]}"
fi
printf 'fetch_debs: %s packages in %s\n' "$(ls -1 "$dest"/*.deb | wc -l)" "$dest"
