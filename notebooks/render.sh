#!/usr/bin/env bash
# render.sh — execute every notebook in notebooks/ headless and write it as
# HTML (with its figures embedded) into OUTDIR, default build/notebooks; the
# figures are also written as PNG under OUTDIR/figures.
#
#   notebooks/render.sh [OUTDIR]
#
# Inputs come from STREAMFIT_MICRO_JSON, STREAMFIT_BENCH_JSON and
# STREAMFIT_METRICS_JSONL (default: notebooks/sample/). The first run creates
# the virtual environment notebooks/.venv (nbconvert, nbclient, ipykernel,
# matplotlib, pandas from PyPI); later runs reuse it.
#
# Exit status: 0 when every notebook ran and drew at least one figure; 1 when
# a cell failed or a notebook drew nothing; 3 when the virtual environment
# could not be made (no python3 venv module, or no way to reach PyPI).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$root/build/notebooks}"
venv="${STREAMFIT_NOTEBOOK_VENV:-$here/.venv}"
packages=(nbconvert nbclient ipykernel matplotlib pandas)

mkdir -p "$out" "$out/figures" || exit 1
out="$(cd "$out" && pwd)"

# ---- the virtual environment (one setup at a time) ----
have_packages() {
  [ -x "$venv/bin/python" ] && [ -x "$venv/bin/jupyter-nbconvert" ] &&
    "$venv/bin/python" -c 'import nbconvert, nbclient, ipykernel, matplotlib, pandas' 2>/dev/null
}

mkdir -p "$venv" || exit 3
exec 9>"$venv/.setup.lock"
command -v flock >/dev/null && flock 9
if ! have_packages; then
  echo "render.sh: setting up $venv (${packages[*]})"
  log="$venv/setup.log"
  if ! python3 -m venv "$venv" >"$log" 2>&1; then
    echo "render.sh: python3 -m venv failed:"; tail -n 5 "$log"; exit 3
  fi
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
         --retries 1 --timeout 30 "${packages[@]}" >>"$log" 2>&1; then
    echo "render.sh: pip install failed (no network to PyPI?):"; tail -n 5 "$log"; exit 3
  fi
  if ! have_packages; then
    echo "render.sh: the packages do not import after installing:"; tail -n 5 "$log"; exit 3
  fi
fi
flock -u 9 2>/dev/null
exec 9>&-

# ---- run the notebooks ----
# The kernel starts in the notebook's folder: make input paths absolute first.
for var in STREAMFIT_MICRO_JSON STREAMFIT_BENCH_JSON STREAMFIT_METRICS_JSONL STREAMFIT_GPU_BENCH_JSONL; do
  if [ -n "${!var:-}" ]; then
    export "$var=$(realpath -m -- "${!var}")"
  fi
done
export PATH="$venv/bin:$PATH"                  # the kernel's "python" is the venv's
export JUPYTER_PATH="$venv/share/jupyter"      # its kernelspec before any user one
export MPLCONFIGDIR="$venv/mplconfig"
export STREAMFIT_FIGURES_DIR="$out/figures"
unset MPLBACKEND                               # the inline backend embeds the figures

status=0
for nb in "$here"/*.ipynb; do
  name="$(basename "$nb" .ipynb)"
  html="$out/$name.html"
  rm -f "$html"
  echo "render.sh: $name"
  if ! jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=300 \
         --ExecutePreprocessor.kernel_name=python3 --output-dir "$out" "$nb" \
         >"$out/$name.log" 2>&1; then
    echo "render.sh: $name: a cell failed:"; tail -n 30 "$out/$name.log"
    status=1
    continue
  fi
  # Embedded figures only (the page's CSS has a data:image/png of its own).
  figures="$(grep -o 'src="data:image/png' "$html" | wc -l)"
  if [ "$figures" -eq 0 ]; then
    echo "render.sh: $name: no figure in $html"
    status=1
    continue
  fi
  echo "render.sh: $html ($figures figures)"
done
exit "$status"
