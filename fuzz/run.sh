#!/bin/sh
# Runs the `convert` fuzz target on one core for SECONDS (default 600), seeded with the
# project's sample Services and malformed inputs. New inputs go to fuzz/corpus/convert, crashes
# to fuzz/artifacts/convert. See docs/fuzzing.md.
set -eu
cd "$(dirname "$0")"
secs="${1:-600}"
here="$(pwd)"
mkdir -p "$here/corpus/convert"
# Stable Rust: cargo-fuzz passes a few nightly-only flags; RUSTC_BOOTSTRAP lets stable accept them.
export RUSTC_BOOTSTRAP=1
# One core: the converter's rayon pool gets a single thread too.
export RAYON_NUM_THREADS=1
exec cargo fuzz run --sanitizer none convert \
    "$here/corpus/convert" "$here/../testdata/services" "$here/../testdata/invalid" "$here/seeds" \
    -- -dict="$here/convert.dict" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1
