#!/usr/bin/env bash
# The verdict of `knative2nomad verify` benchmarked on loopback with real processes
# (tests/integration/verify_bench.rs; BENCHMARKS.md, "verify: A/A" and "verify: measurement bias"):
#   A/A   — the same server on both sides, RUNS runs (default 40): FAIL verdicts for warm and cold
#   bias  — both sides ready after the same start-up delay (100 ms, 300 ms), BIAS_RUNS runs
#           (default 10): the difference of the medians and the verdicts
# K2N_BENCH_AA="warm2 warm5 cold" chooses the A/A parts (default all);
# K2N_VERIFY_BIN=/path/to/knative2nomad runs another build of the verifier against the same
# fixtures (e.g. the one before issue 14). Usage: bench/verify.sh [aa|bias|all]
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
run() {
  K2N_BENCH_RUNS="$2" cargo test --release --quiet --test integration "$1" -- --ignored --nocapture \
    | grep -v '^running\|^test \|^$'
}
case "$what" in
  aa) run verify_aa_benchmark "${RUNS:-40}" ;;
  bias) run verify_bias_benchmark "${BIAS_RUNS:-10}" ;;
  all) run verify_aa_benchmark "${RUNS:-40}"; run verify_bias_benchmark "${BIAS_RUNS:-10}" ;;
  *) echo "usage: $0 [aa|bias|all]" >&2; exit 2 ;;
esac
