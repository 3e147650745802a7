#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a short time and fails if any finds a crash (panic, abort,
# failed invariant, timeout or out-of-memory). Meant for CI; NOT wired into .ci/run (the lead decides).
#
#   scripts/fuzz-ci.sh                 # every target, 20 s each, no sanitizer (works on stable Rust)
#   FUZZ_SECONDS=60 scripts/fuzz-ci.sh h264_nal opus_decode
#   FUZZ_SECONDS=1800 FUZZ_RUNS=10000000 scripts/fuzz-ci.sh   # the long run: 30 min or 10 M executions each
#   FUZZ_TIMEOUT=900 ...                # per-input timeout (10 s default); raise it when the machine may pause the
#                                       # fuzzer (SIGSTOP, a suspended VM): a paused input is reported as a timeout
#   FUZZ_SANITIZER=address scripts/fuzz-ci.sh   # ASan (needs nightly, or RUSTC_BOOTSTRAP=1 as set below)
#
# Each target starts from its committed seed corpus (fuzz/corpus/<target>, read-only here: new inputs go to a
# temp dir) and its dictionary (fuzz/dict/). Debug assertions (integer overflow checks) are on. A crash
# leaves its input in $FUZZ_ARTIFACTS (default: a temp dir, printed) with the command to reproduce it.
# Cost on the 2-core CI machine: see docs/fuzzing.md (build ~6 min from scratch, then targets x seconds).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
secs="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target/fuzz}"
# cargo-fuzz passes -Z flags with a sanitizer; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null; then
    echo "installing cargo-fuzz..." >&2
    cargo install cargo-fuzz --locked
fi

cd "$here/fuzz"
declare -A dict=(
    [h264_nal]=h264 [annexb_passthrough]=h264 [opus_decode]= [ogg_opus]=ogg [wav_recovery]=wav
    [fmp4_reader]=mp4 [fmp4_samples]=mp4 [manifest]=manifest [impairments]=impairments [jitter]= [track_mixer]= [grpc_ingest]=grpc [inspect]=inspect [sealed_log]= [timeline_svg]=timeline_svg [catalog_entry]=
)
# One feature set for the build and every run (grpc_ingest needs `grpc`; switching features would rebuild).
features=(--features grpc)
if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi

t0=$(date +%s)
cargo fuzz build -O -a --sanitizer "$sanitizer" "${features[@]}"
t1=$(date +%s)
echo "fuzz build: $((t1 - t0)) s" >&2

work="$(mktemp -d /tmp/verbatim-fuzz-ci.XXXXXX)"
artifacts="${FUZZ_ARTIFACTS:-$work/artifacts}"
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t" "$artifacts/$t"
    opts=(-max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -artifact_prefix="$artifacts/$t/" -print_final_stats=1)
    # FUZZ_RUNS caps executions (the long run: FUZZ_SECONDS=1800 FUZZ_RUNS=10000000, whichever comes first).
    [ -n "${FUZZ_RUNS:-}" ] && opts+=(-runs="$FUZZ_RUNS")
    d="${dict[$t]:-}"
    [ -n "$d" ] && opts+=(-dict="$here/fuzz/dict/$d.dict")
    echo "== $t ($secs s)" >&2
    if ! cargo fuzz run -O -a --sanitizer "$sanitizer" "${features[@]}" "$t" "$work/corpus/$t" "$here/fuzz/corpus/$t" \
        -- "${opts[@]}" >"$work/$t.log" 2>&1; then
        failed+=("$t")
        echo "!! $t FAILED; last lines:" >&2
        tail -40 "$work/$t.log" >&2
        for a in "$artifacts/$t"/*; do
            [ -e "$a" ] && echo "   reproduce: (cd fuzz && cargo fuzz run -O -a --sanitizer $sanitizer --features grpc $t $a)" >&2
        done
    else
        grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/$t.log" | tail -1 >&2 || true
    fi
done
t2=$(date +%s)
echo "fuzz runs: $((t2 - t1)) s for ${#targets[@]} targets; total $((t2 - t0)) s" >&2
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]} (inputs under $artifacts)" >&2
    exit 1
fi
[ -z "${FUZZ_ARTIFACTS:-}" ] && rm -rf "$work"
echo "fuzzing: no crash in ${#targets[@]} targets" >&2
