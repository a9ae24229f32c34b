#!/usr/bin/env bash
# test_notebooks.sh — every notebook in notebooks/ runs headless on the
# sample inputs (notebooks/sample/) and draws at least one figure
# (notebooks/render.sh into a temporary folder). Exits 77 (skipped) only when
# the virtual environment cannot be made: no python3 venv module, or no
# network to PyPI for the first install. The first run installs packages (a
# minute or two); later runs reuse notebooks/.venv.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
unset STREAMFIT_MICRO_JSON STREAMFIT_BENCH_JSON STREAMFIT_METRICS_JSONL STREAMFIT_GPU_BENCH_JSONL

bash "$root/notebooks/render.sh" "$out"
rc=$?
if [ "$rc" -eq 3 ]; then
  echo "SKIP: the notebooks' virtual environment could not be made (see above)"
  exit 77
fi
[ "$rc" -eq 0 ] && echo "notebooks: all rendered"
exit "$rc"
