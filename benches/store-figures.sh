#!/usr/bin/env bash
# WORM-storage figures (docs/storage.md): upload latency per segment (p50/p99) against moto and SeaweedFS on
# loopback, for a real-time simulated call with one segment per --upload-interval. Starts both servers itself
# (installed by scripts/setup.sh), kills them at the end.
#   bash benches/store-figures.sh [SECONDS=120] [INTERVAL=1s]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-120}
interval=${2:-1s}
# The dev profile (dependencies at opt-level 2): the figures are the store's and the network's, not ours.
# VERBATIM_BIN=path skips the build.
if [ -z "${VERBATIM_BIN:-}" ]; then cargo build -q -p verbatim --bin verbatim; fi
V=${VERBATIM_BIN:-${CARGO_TARGET_DIR:-target}/debug/verbatim}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
mkbucket() { python3 - "$1" <<'PY'
import sys, time, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
for _ in range(120):
    try:
        s3.create_bucket(Bucket="calls", ObjectLockEnabledForBucket=True); break
    except Exception as e:
        if "BucketAlready" in str(e): break
        time.sleep(0.5)
PY
}
$V keygen --out "$work/k.key" >/dev/null 2>&1
run() { # name endpoint
    $V record --simulate --meeting standup --duration "${secs}s" --realtime --quiet --out "$work/$1" \
        --signing-key "$work/k.key" --store s3://calls/bench --store-endpoint "$2" --upload-interval "$interval" \
        --retention 1d | grep '^store '
}
mp=$(port); moto_server -H 127.0.0.1 -p "$mp" >"$work/moto.log" 2>&1 & pids+=($!)
wait_port "$mp"; mkbucket "http://127.0.0.1:$mp"
echo "moto_server $(pip show moto 2>/dev/null | awk '/^Version/{print $2}'): ${secs} s real-time stand-up, --upload-interval $interval"
run moto "http://127.0.0.1:$mp"
b=$(port); sp=$(port); mkdir -p "$work/weed"
weed server -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false -dir="$work/weed" \
    -master.port="$b" -master.port.grpc="$(port)" -volume.port="$(port)" -volume.port.grpc="$(port)" \
    -filer.port="$(port)" -filer.port.grpc="$(port)" -s3 -s3.port="$sp" -s3.port.grpc="$(port)" \
    -debug.port="$(port)" -s3.port.iceberg=0 -s3.port.lance=0 -volume.max=20 -master.volumeSizeLimitMB=64 \
    >"$work/weed.log" 2>&1 & pids+=($!)
wait_port "$sp"; mkbucket "http://127.0.0.1:$sp"
echo "SeaweedFS $(weed version 2>/dev/null | awk '{print $3}'): ${secs} s real-time stand-up, --upload-interval $interval"
run weed "http://127.0.0.1:$sp"
