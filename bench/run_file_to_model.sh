#!/usr/bin/env bash
# run_file_to_model.sh — the file-to-model benchmark of BENCHMARKS.md, end to end:
# builds streamfit (Release), makes a virtual environment with the peer
# (pandas, scikit-learn from PyPI), generates the CSVs and prints the table.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/cmake/bootstrap.sh" build
venv="$root/bench/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pandas scikit-learn
fi
python3 "$root/bench/file_to_model.py" --streamfit "$root/build/streamfit" \
  --python "$venv/bin/python" "$@"
