#!/usr/bin/env bash
# run_stream_bench.sh — the streaming benchmark, end to end, on 2 cores about
# 10 minutes with the default --repeat 3 (12 with --repeat 5), waits for a
# quiet machine included: streamfit with its default settings (no -X) from
# the development Kafka broker (throughput beside a bare kcat consumer on the
# same topic; end-to-end latency at a steady 100,000 records/s, kcat's
# timestamps against the metrics' own) and the Apache Spark Structured
# Streaming peer (local[2]).
#
# Needs: a C toolchain and librdkafka for streamfit, kcat, Java 17 for Spark,
# and PyPI for the peer's virtual environment (pyspark, numpy, pyarrow).
# Data goes to bench/results/tmp/stream/ (ignored); the results to
# bench/results/stream_bench.json, the Markdown table to stdout.
# Extra arguments go to bench/stream_bench.py (see its --help), e.g.
#   bench/run_stream_bench.sh --skip-spark --repeat 5
# (--skip-spark needs neither Java nor PyPI.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -x "$root/build/streamfit" ]; then
  bash "$root/cmake/bootstrap.sh" build
fi
command -v kcat >/dev/null || { echo "run_stream_bench.sh: kcat is needed (apt-get install kcat)" >&2; exit 1; }
venv="$root/bench/.venv"
case " $* " in
  *" --skip-spark "*)
    exec python3 "$root/bench/stream_bench.py" --streamfit "$root/build/streamfit" "$@" ;;
esac
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import pyspark, numpy, pyarrow" 2>/dev/null; then
  "$venv/bin/pip" install -q pyspark numpy pyarrow
fi
# Spark's Kafka source is a separate Maven artifact, not in the pyspark wheel:
ls "$("$venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')/jars" \
  | grep -i kafka >/dev/null && echo "note: a Kafka connector jar is present" >&2 || true
exec python3 "$root/bench/stream_bench.py" --streamfit "$root/build/streamfit" \
  --python "$venv/bin/python" "$@"
