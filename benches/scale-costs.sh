#!/usr/bin/env bash
# The per-call costs docs/scale.md adds up: whole-process CPU (user + sys) of `verbatim record` for the same
# simulated call plaintext, with --encrypt-to, and with --encrypt-to --store (moto_server on loopback, 10 s
# upload interval), in real time so the uploader works at its own pace. Release build.
#   bash benches/scale-costs.sh [SECONDS=120] [RUNS=2] [MEETING=standup] [PARTICIPANTS=4]
#   FAST=1 bash benches/scale-costs.sh 300 3   # as fast as possible: the work alone, without the real-time
#                                             # process's fixed cost (its threads' wake-ups), which dominates
#                                             # one call per process
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-120}
runs=${2:-2}
meeting=${3:-standup}
parts=${4:-4}
if [ -n "${FAST:-}" ]; then pace=(); how="as fast as possible"; else pace=(--realtime); how="in real time"; fi
if [ -z "${VERBATIM_BIN:-}" ]; then cargo build -q --release -p verbatim --bin verbatim; fi
V=${VERBATIM_BIN:-${CARGO_TARGET_DIR:-target}/release/verbatim}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
mp=$(port); moto_server -H 127.0.0.1 -p "$mp" >"$work/moto.log" 2>&1 & pids+=($!)
wait_port "$mp"
python3 - "http://127.0.0.1:$mp" <<'PY'
import sys, boto3
boto3.client("s3", endpoint_url=sys.argv[1]).create_bucket(Bucket="calls", ObjectLockEnabledForBucket=True)
PY
$V keygen --out "$work/k.key" >/dev/null 2>&1
rcpt=$($V keygen --encryption --identity-file "$work/id.age" 2>/dev/null | grep -o 'age1[0-9a-z]*' | head -1)
cpu() { # name extra-args…: prints "name user+sys seconds"
    local name=$1; shift
    local out="$work/$name-$RANDOM"; local bytes
    local t="$work/t-$name"
    /usr/bin/time -f "%U %S" -o "$t" "$V" record --simulate --meeting "$meeting" --participants "$parts" --seed 7 --duration "${secs}s" \
        "${pace[@]}" --quiet --out "$out" --signing-key "$work/k.key" --start-utc-ms 1764806400000 "$@" >"$out.log" 2>&1 \
        || { cat "$out.log"; exit 1; }
    grep -h 'store s3' "$out.log" | cut -c1-300 || true
    bytes=$(du -sb "$out" | cut -f1)
    awk -v n="$name" -v s="$secs" -v b="$bytes" '{c=$1+$2; printf "%-16s %.2f s CPU = %.2f ms per recorded second; %d bytes\n", n, c, c*1000/s, b}' "$t"
    rm -rf "$out"
}
echo "$meeting of $parts, ${secs} s $how, release, $(nproc) cores; $runs runs each"
# The three run side by side (each process's own CPU is counted; they share the machine alike).
for r in $(seq 1 "$runs"); do
    cpu plaintext > "$work/o1" & a=$!
    cpu encrypted --encrypt-to "$rcpt" > "$work/o2" & b=$!
    cpu encrypted+store --encrypt-to "$rcpt" --store "s3://calls/r$r" --store-endpoint "http://127.0.0.1:$mp" \
        --retention 1d > "$work/o3" & c=$!
    wait "$a" "$b" "$c" || echo "a run failed (its log is above)"
    cat "$work/o1" "$work/o2" "$work/o3"
done
