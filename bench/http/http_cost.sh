#!/usr/bin/env bash
# http_cost.sh — what `streamfit stream --http` costs: throughput of the same
# embedded stream without --http, and with --http while the live page is
# polled (its /api/status once a second, as the page does) and /metrics is
# scraped once a second. Goal: within 5 % of the run without --http.
#
#   bash bench/http/http_cost.sh BUILD_DIR [SECONDS] [REPEATS]
#
# Prints one line per run and the median records/s of each variant.
set -euo pipefail
build="${1:?usage: http_cost.sh BUILD_DIR [SECONDS] [REPEATS]}"
secs="${2:-60}"
reps="${3:-5}"
sf="$build/streamfit"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# A feed faster than the learner, so that records/s measures the learner.
args=(--broker embedded --model logistic --feed-rate 2000000 --batch-ms 10 --max-ms $((secs * 1000))
      --quiet)

run_plain() {
  "$sf" stream "${args[@]}" --metrics-out "$out/m.jsonl" 2>/dev/null
  tail -n 1 "$out/m.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["throughput_rps"])'
}

run_http() {
  "$sf" stream "${args[@]}" --metrics-out "$out/m.jsonl" --http 0 2>"$out/err" &
  local pid=$! url=""
  for _ in $(seq 100); do
    url="$(grep -o 'http://[^ ]*' "$out/err" | head -n 1 || true)"
    [ -n "$url" ] && break
    sleep 0.1
  done
  while kill -0 "$pid" 2>/dev/null; do # the page's poll and a Prometheus scrape, every second
    curl -s -o /dev/null "${url}api/status" || true
    curl -s -o /dev/null "${url}metrics" || true
    sleep 1
  done
  wait "$pid"
  tail -n 1 "$out/m.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["throughput_rps"])'
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

: >"$out/plain"
: >"$out/http"
for i in $(seq "$reps"); do # interleaved, so that drift hits both alike
  p="$(run_plain)"; echo "run $i without --http: $p records/s"; echo "$p" >>"$out/plain"
  h="$(run_http)"; echo "run $i with --http, polled and scraped: $h records/s"; echo "$h" >>"$out/http"
done
mp="$(median <"$out/plain")"
mh="$(median <"$out/http")"
python3 -c "p,h=$mp,$mh; print(f'median without --http {p:.0f} records/s, with {h:.0f}: {100*(h-p)/p:+.2f} % (goal: within 5 %)')"
