#!/usr/bin/env bash
# Batch benchmark (BENCHMARKS.md): COUNT generated one-Service files converted to HCL job files
# (-o DIR), and converted without writing (HCL to /dev/null), next to serde_yaml alone parsing
# the same files (the floor), and a Python loop that only creates as many files (the file
# system's floor, bench/create_floor.py). `sync` before each timing so the previous round's writeback does
# not land on the next one; each round writes into a fresh folder and all output is removed
# only at the end, because deleting 10,000 files (ext4 with `discard`) slows the file creation
# that follows for seconds. Prints one line per measurement and round.
# Usage: bench/batch.sh [COUNT] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
rounds=${2:-3}
cargo build --release --quiet --bin knative2nomad --example gen_corpus --example parse_floor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/examples/gen_corpus "$work/corpus" "$count" 2>/dev/null
bin=target/release/knative2nomad
measure() { # label, command...
  local label=$1; shift
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >/dev/null 2>&1 || true
  read -r secs user sys rss_kb < "$work/time"
  echo "$label: ${secs}s wall ($(awk "BEGIN{printf \"%.0f\", $count/$secs}") services/s), cpu ${user}u+${sys}s, peak RSS $((rss_kb / 1024)) MiB"
}
for round in $(seq 1 "$rounds"); do
  echo "round $round: floor $(target/release/examples/parse_floor "$work/corpus")"
  # The file system's share: creating as many files of the jobs' average size (2,290 bytes for
  # this generator's corpus: 22,893,848 bytes of HCL for 10,000 Services), and nothing else.
  sync
  echo "round $round: file floor $(python3 bench/create_floor.py "$work/files-$round" "$count" 2290)"
  measure "round $round: convert -o (writes files)" "$bin" convert "$work/corpus" -o "$work/out-$round"
  echo "round $round: files written: $(find "$work/out-$round" -name '*.nomad.hcl' | wc -l)"
  measure "round $round: convert to stdout (no files)" "$bin" convert "$work/corpus"
done
