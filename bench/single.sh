#!/usr/bin/env bash
# Single-file conversion time (BENCHMARKS.md): wall time of converting one Service with the
# release binary, as hyperfine measures it (installed from Debian if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release --quiet --bin knative2nomad
hyperfine --warmup 20 --runs 300 -N --export-json "${1:-/tmp/k2n-single.json}" \
  'target/release/knative2nomad convert testdata/services/15-resources.yaml' \
  'target/release/knative2nomad convert testdata/services/13-emptydir-sidecar.yaml'
