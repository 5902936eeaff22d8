#!/usr/bin/env bash
# Before/after batch benchmark in one run (BENCHMARKS.md): the release binary of this checkout
# ("after") against another build ("before", e.g. the commit before a change), alternating the
# two in every round (the order flips each round, so neither always runs on a warmer cache), on
# two generated corpora of COUNT one-Service files: the usual one (examples/gen_corpus.rs) and
# one with ConfigMaps in folders (`gen_corpus --shared-config`). Each round times, with
# /usr/bin/time: jobs on stdout (to /dev/null) and `-o` into a fresh folder, for both binaries,
# plus a second stdout run of "after" as an A/A control (the two "after" figures should agree
# within the noise the comparison has to beat). `sync` before each timing; written folders are
# removed only at the end (deleting 10,000 files slows the file creation that follows).
# Prints one line per timing, then medians per corpus, binary and mode, and after/before ratios.
# Usage: bench/batch_ab.sh BEFORE_BINARY [COUNT] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?usage: bench/batch_ab.sh BEFORE_BINARY [COUNT] [ROUNDS]}
count=${2:-10000}
rounds=${3:-5}
cargo build --release --quiet --bin knative2nomad --example gen_corpus
after=target/release/knative2nomad
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/examples/gen_corpus "$work/plain" "$count" 2>/dev/null
target/release/examples/gen_corpus "$work/shared" "$count" --shared-config 2>/dev/null

# What the two binaries make of each corpus, once, untimed: identical jobs where the change
# should not matter, and how many jobs differ where it should.
for corpus in plain shared; do
  "$before" convert "$work/$corpus" --format json >"$work/before-$corpus.json" 2>/dev/null || true
  "$after" convert "$work/$corpus" --format json >"$work/after-$corpus.json" 2>/dev/null || true
  python3 - "$work/before-$corpus.json" "$work/after-$corpus.json" "$corpus" <<'EOF'
import json, sys
def jobs(path):
    text, out, i, dec = open(path).read(), {}, 0, json.JSONDecoder()
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        job, i = dec.raw_decode(text, i)
        out[job["Job"]["ID"]] = job
b, a = jobs(sys.argv[1]), jobs(sys.argv[2])
differ = sum(1 for k in a if b.get(k) != a[k])
print(f"{sys.argv[3]} corpus: {len(b)} jobs before, {len(a)} after, {differ} differ")
EOF
done

measure() { # label, command...
  local label=$1; shift
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >/dev/null 2>&1 || true
  read -r secs user sys rss_kb < "$work/time"
  echo "$label $secs $user $sys $((rss_kb / 1024))"
}
echo "# round corpus binary mode wall_s user_s sys_s peak_rss_mib"
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
  for corpus in plain shared; do
    for which in $order; do
      if [ "$which" = before ]; then bin=$before; else bin=$after; fi
      measure "$round $corpus $which stdout" "$bin" convert "$work/$corpus"
      measure "$round $corpus $which -o" "$bin" convert "$work/$corpus" -o "$work/out-$round-$corpus-$which"
    done
    measure "$round $corpus after-again stdout" "$after" convert "$work/$corpus"
  done
done | tee "$work/times"

python3 - "$work/times" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if not l.startswith("#")]
med = {}
for corpus in ("plain", "shared"):
    for which in ("before", "after", "after-again"):
        for mode in ("stdout", "-o"):
            sel = [r for r in rows if r[1] == corpus and r[2] == which and r[3] == mode]
            if sel:
                wall = statistics.median(float(r[4]) for r in sel)
                cpu = statistics.median(float(r[5]) + float(r[6]) for r in sel)
                rss = statistics.median(float(r[7]) for r in sel)
                med[corpus, which, mode] = (wall, cpu, rss)
                print(f"median {corpus} {which} {mode}: wall {wall:.2f} s, cpu {cpu:.2f} s, {rss:.0f} MiB ({len(sel)} rounds)")
# CPU time (user + system) moves less than wall time when other work shares the machine.
for corpus in ("plain", "shared"):
    for mode in ("stdout", "-o"):
        a, b = med[corpus, "after", mode], med[corpus, "before", mode]
        print(f"ratio {corpus} {mode} after/before: wall {a[0] / b[0]:.3f}, cpu {a[1] / b[1]:.3f}, rss {a[2] / b[2]:.3f}")
    a, b = med[corpus, "after-again", "stdout"], med[corpus, "after", "stdout"]
    print(f"ratio {corpus} stdout A/A (after-again/after): wall {a[0] / b[0]:.3f}, cpu {a[1] / b[1]:.3f}")
EOF
