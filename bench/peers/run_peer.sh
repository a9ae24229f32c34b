#!/usr/bin/env bash
# run_peer.sh — run one peer library of `streamfit bench --peers` in its own
# virtual environment, bench/.venv-peers (made on first use, with a
# .gitignore inside so it is never committed).
#
#   bench/peers/run_peer.sh NAME --setup
#   bench/peers/run_peer.sh NAME --task T --input FILE --holdout F --lambda X --repeat R [--no-header]
#
# NAME: spark (pyspark; needs a Java runtime), sklearn (scikit-learn), vw
# (the vowpalwabbit Python package). --setup installs what NAME needs from
# PyPI when it is missing and prints {"name": ..., "status": "ok"} or
# {"status": "unavailable: why"}; the run prints one JSON line per result
# (see bench/peers/peer_common.py). A peer that cannot be installed is
# reported as unavailable, never as a crash. pip's output goes to
# bench/.venv-peers/install-NAME.log.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(cd "$here/.." && pwd)/.venv-peers"
name="${1:-}"
shift || true

say() { # say STATUS: one JSON line for this peer
  python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1], "status": sys.argv[2]}))' \
    "$name" "$1"
}

case "$name" in
  spark) pkgs="pyspark pandas numpy pyarrow"; probe="import pyspark, pandas, numpy"
         script="spark_fit.py" ;;
  sklearn) pkgs="scikit-learn pandas numpy"; probe="import sklearn, pandas, numpy"
           script="sklearn_fit2.py" ;;
  vw) pkgs="vowpalwabbit pandas numpy"; probe="import vowpalwabbit, numpy"
      script="vw_fit.py" ;;
  *) say "unavailable: unknown peer '$name' (spark, sklearn, vw)"; exit 2 ;;
esac

# Prints nothing and returns 0 when the peer is ready; else prints why.
setup() {
  command -v python3 >/dev/null || { echo "no python3"; return 1; }
  if [ "$name" = spark ] && ! command -v java >/dev/null; then
    echo "no Java runtime (pyspark needs Java 17 or later)"; return 1
  fi
  mkdir -p "$venv" 2>/dev/null || { echo "cannot create $venv"; return 1; }
  [ -f "$venv/.gitignore" ] || echo '*' >"$venv/.gitignore"
  (
    # One installer at a time in the shared environment.
    command -v flock >/dev/null && flock 9
    if [ ! -x "$venv/bin/python" ]; then
      python3 -m venv "$venv" >>"$venv/install-$name.log" 2>&1 \
        || { echo "python3 -m venv failed (see $venv/install-$name.log)"; exit 1; }
    fi
    if ! "$venv/bin/python" -c "$probe" >/dev/null 2>&1; then
      "$venv/bin/python" -m pip install -q $pkgs >>"$venv/install-$name.log" 2>&1 || {
        echo "pip install $pkgs failed: $(grep -v '^\s*$' "$venv/install-$name.log" | tail -n 1)"
        exit 1
      }
      "$venv/bin/python" -c "$probe" >/dev/null 2>&1 \
        || { echo "installed, but '$probe' fails"; exit 1; }
    fi
  ) 9>"$venv/.install.lock"
}

if [ "${1:-}" = "--setup" ]; then
  if why="$(setup)"; then say ok; else say "unavailable: $why"; fi
  exit 0
fi
if ! why="$(setup)"; then
  say "unavailable: $why"
  exit 0
fi
exec "$venv/bin/python" "$here/$script" "$@"
