#!/usr/bin/env bash
# Measure the verifier's load engines (k2n-loadgen = the code `verify` runs) against wrk and oha,
# all on loopback against the same k2n-fn-server, in the same rounds. Prints one JSON line per
# measurement into $OUT/raw.jsonl and a Markdown summary (medians over the rounds) on stdout.
#
#   bench/loadgen.sh [ROUNDS]        (default 3; needs: wrk (apt-get install wrk), python3;
#                                     oha optional: cargo install oha --locked, or OHA=/path/oha)
#
# Each round: closed loop 50 connections 10 s (wrk -t1, k2n-loadgen, oha); open loop 2,000 req/s
# 10 s over 50 connections (k2n-loadgen, oha --latency-correction), also against a second server
# that does 200 µs of work per request; 1,000 sequential requests on one
# keep-alive connection (k2n-loadgen, oha; wrk -c1 5 s); 100,000 requests closed loop for peak RSS.
set -euo pipefail
ROUNDS=${1:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$HERE/target/release}
OHA=${OHA:-$(command -v oha || true)}
PORT=${PORT:-18090}
OUT=${OUT:-$(mktemp -d /tmp/k2n-loadgen-bench.XXXXXX)}
URL=http://127.0.0.1:$PORT/
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 2; }
[ -x "$BIN/k2n-loadgen" ] && [ -x "$BIN/k2n-fn-server" ] || {
  echo "build first: cargo build --release --bin k2n-loadgen --bin k2n-fn-server" >&2; exit 2; }

"$BIN/k2n-fn-server" --port "$PORT" --threads 1 >/dev/null &
SERVER=$!
# The same server with 200 µs of CPU work per request: there the server's time dominates the
# round trip, so two clients' open-loop medians can be compared without their own overhead
# deciding the result (40 % of one core at 2,000 req/s, so no queueing to speak of).
WORK_PORT=$((PORT + 1))
WORK_URL=http://127.0.0.1:$WORK_PORT/
"$BIN/k2n-fn-server" --port "$WORK_PORT" --threads 1 --work-us 200 >/dev/null &
WORK_SERVER=$!
trap 'kill $SERVER $WORK_SERVER 2>/dev/null; wait $SERVER $WORK_SERVER 2>/dev/null || true' EXIT
for p in $PORT $WORK_PORT; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.05; done
done

RAW=$OUT/raw.jsonl; : > "$RAW"
rec() { # round tool test json
  python3 -c 'import json,sys; d=json.loads(sys.argv[4]); d.update(round=int(sys.argv[1]),tool=sys.argv[2],test=sys.argv[3]); print(json.dumps(d))' "$@" >> "$RAW"; }
wrk_json() { # parse wrk --latency output on stdin
  python3 -c '
import json,re,sys
t=sys.stdin.read()
def lat(s):
    v,u=re.match(r"([\d.]+)(us|ms|s)",s).groups(); return float(v)*{"us":1e-3,"ms":1,"s":1e3}[u]
rps=float(re.search(r"Requests/sec:\s+([\d.]+)",t).group(1))
p={k:lat(v) for k,v in re.findall(r"^\s+(50|90|99)%\s+(\S+)",t,re.M)}
print(json.dumps({"rps":rps,"p50_ms":p.get("50"),"p90_ms":p.get("90"),"p99_ms":p.get("99")}))'; }
oha_json() { # oha --output-format json on stdin
  python3 -c '
import json,sys
d=json.load(sys.stdin); s=d["summary"]; p=d.get("latencyPercentiles",{})
ms=lambda k: None if p.get(k) is None else p[k]*1e3
print(json.dumps({"rps":s.get("requestsPerSec"),"p50_ms":ms("p50"),"p90_ms":ms("p90"),"p99_ms":ms("p99"),"p999_ms":ms("p99.9")}))'; }
rss_of() { # peak RSS (kB) of a command, from GNU time if present
  if [ -x /usr/bin/time ]; then /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; else echo null; fi; }

for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  rec "$r" wrk closed "$(wrk -t1 -c50 -d10s --latency "$URL" | wrk_json)"; sleep 2
  rec "$r" k2n closed "$("$BIN/k2n-loadgen" -c 50 -z 10s "$URL")"; sleep 2
  if [ -n "$OHA" ]; then
    rec "$r" oha closed "$("$OHA" -z 10s -c 50 --no-tui --output-format json "$URL" | oha_json)"; sleep 2
  fi
  rec "$r" k2n open "$("$BIN/k2n-loadgen" -c 50 -z 10s -q 2000 "$URL")"; sleep 2
  if [ -n "$OHA" ]; then
    rec "$r" oha open "$("$OHA" -z 10s -c 50 -q 2000 --latency-correction --no-tui --output-format json "$URL" | oha_json)"; sleep 2
    rec "$r" oha c1 "$("$OHA" -n 1000 -c 1 --no-tui --output-format json "$URL" | oha_json)"
    rec "$r" k2n open-work "$("$BIN/k2n-loadgen" -c 50 -z 10s -q 2000 "$WORK_URL")"; sleep 2
    rec "$r" oha open-work "$("$OHA" -z 10s -c 50 -q 2000 --latency-correction --no-tui --output-format json "$WORK_URL" | oha_json)"; sleep 2
  fi
  rec "$r" wrk c1 "$(wrk -t1 -c1 -d5s --latency "$URL" | wrk_json)"; sleep 1
  rec "$r" k2n c1 "$("$BIN/k2n-loadgen" -c 1 -n 1000 "$URL")"
  rec "$r" k2n mem "$("$BIN/k2n-loadgen" -c 50 -n 100000 "$URL")"
done

python3 - "$RAW" <<'PY'
import json,statistics,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
def get(tool,test,key):
    return [r[key] for r in rows if r["tool"]==tool and r["test"]==test and r.get(key) is not None]
def med(v): return statistics.median(v) if v else None
def per_round_ratio(a,b,key):
    out=[]
    for r in sorted({x["round"] for x in rows}):
        x=[y[key] for y in rows if y["round"]==r and (y["tool"],y["test"])==a]
        z=[y[key] for y in rows if y["round"]==r and (y["tool"],y["test"])==b]
        if x and z and z[0]: out.append(x[0]/z[0])
    return out
def f(v,fmt="{:.3f}"): return "n/a" if v is None else fmt.format(v)
rr=per_round_ratio(("k2n","closed"),("wrk","closed"),"rps")
print(f"rounds: {len({x['round'] for x in rows})}; raw: {sys.argv[1]}")
print("| measurement | k2n-loadgen (median) | reference (median) | ratio / target |")
print("|---|---|---|---|")
print(f"| closed loop, 50 conns, 10 s: req/s | {f(med(get('k2n','closed','rps')),'{:,.0f}')} | wrk -t1 {f(med(get('wrk','closed','rps')),'{:,.0f}')}; oha {f(med(get('oha','closed','rps')),'{:,.0f}')} | {f(med(rr),'{:.2f}')}× wrk (per round {', '.join(f'{x:.2f}' for x in rr)}); target ≥ 0.90 |")
o=med(get('k2n','open','rps'))
print(f"| open loop 2,000 req/s, 10 s: achieved req/s | {f(o,'{:,.1f}')} | oha -q 2000 {f(med(get('oha','open','rps')),'{:,.1f}')} | {f(None if o is None else 100*o/2000,'{:.2f}')} % of requested; target 99–101 % |")
kp=med(get('k2n','open','p50_ms')); op=med(get('oha','open','p50_ms'))
print(f"| open loop p50 / p99 / p99.9 ms | {f(kp)} / {f(med(get('k2n','open','p99_ms')))} / {f(med(get('k2n','open','p999_ms')))} | oha {f(op)} / {f(med(get('oha','open','p99_ms')))} / {f(med(get('oha','open','p999_ms')))} | p50 {f(None if not (kp and op) else kp/op,'{:.2f}')}× oha; target within ±10 % |")
kw=med(get('k2n','open-work','p50_ms')); ow=med(get('oha','open-work','p50_ms'))
wr=[a/b for a,b in zip(get('k2n','open-work','p50_ms'),get('oha','open-work','p50_ms')) if b]
print(f"| same, server doing 200 µs of work per request: p50 / p99 ms | {f(kw)} / {f(med(get('k2n','open-work','p99_ms')))} | oha {f(ow)} / {f(med(get('oha','open-work','p99_ms')))} | p50 {f(None if not (kw and ow) else kw/ow,'{:.2f}')}× oha (per round {', '.join(f'{x:.2f}' for x in wr)}) |")
c1=med(get('k2n','c1','p50_ms'))
print(f"| one connection, 1,000 requests: p50 µs | {f(None if c1 is None else c1*1e3,'{:.1f}')} | wrk -c1 {f(None if not get('wrk','c1','p50_ms') else med(get('wrk','c1','p50_ms'))*1e3,'{:.1f}')}; oha -c1 {f(None if not get('oha','c1','p50_ms') else med(get('oha','c1','p50_ms'))*1e3,'{:.1f}')}; floor ≈ 80 | {f(None if c1 is None else c1*1e3/80,'{:.2f}')}× the 80 µs floor; target ≤ 1.25 |")
m=med(get('k2n','mem','peak_rss_kb'))
print(f"| peak RSS at 100,000 requests (50 conns) | {f(None if m is None else m/1024,'{:.1f}')} MB | – | target < 64 MB |")
PY
