#!/usr/bin/env bash
# Batch benchmark (BENCHMARKS.md): 10,000 generated one-Service files converted to HCL files,
# next to serde_yaml alone parsing the same files (the floor). Three rounds; prints each round.
# Usage: bench/batch.sh [COUNT] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
rounds=${2:-3}
cargo build --release --quiet --bin knative2nomad --example gen_corpus --example parse_floor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/examples/gen_corpus "$work/corpus" "$count" 2>/dev/null
for round in $(seq 1 "$rounds"); do
  rm -rf "$work/out"
  floor=$(target/release/examples/parse_floor "$work/corpus")
  /usr/bin/time -f "%e %M" -o "$work/time" \
    target/release/knative2nomad convert "$work/corpus" -o "$work/out" 2>/dev/null >/dev/null || true
  read -r secs rss_kb < "$work/time"
  written=$(find "$work/out" -name '*.nomad.hcl' | wc -l)
  echo "round $round: convert $count services -> $written files in ${secs}s ($(awk "BEGIN{printf \"%.0f\", $count/$secs}") services/s), peak RSS $((rss_kb / 1024)) MiB; floor: $floor"
done
