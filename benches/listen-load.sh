#!/usr/bin/env bash
# The real server path under load: `verbatim listen` fed by `verbatim send` (the reference bot) in another
# process, CALLS concurrent calls in real time, and the CPU the listen process spends per recorded second.
#
#   INPUT=meeting (default): each call a planned stand-up (`send --simulate --meeting standup`, 4 people,
#                            seeds 1..CALLS): each person gives a 45-120 s update in turn and is silent for
#                            minutes otherwise, late joins, a re-join with new MSIs, mute
#   INPUT=synthetic:         four synthetic speakers, spurts of 0.8-3.5 s, pauses of 0.4-5 s (the earlier input)
#   INPUT=townhall:          each call a planned town hall of 12 (`--meeting townhall --participants 12`): one
#                            presenter, a muted audience of whom a few ask questions, the rest never heard
#
# listen's CPU is utime + stime of its process from /proc/PID/stat, read when it is listening and again after
# the last call's summary (the server's start-up is not in it); send's CPU is printed beside it, and the
# server's peak resident memory (VmHWM) and minor page faults over the same span (memory touched for the first
# time: in 30 s calls most of a call's rings and queues are still being touched, a cost long calls amortize). A figure
# counts only if every recording is whole: every call `completed`, and in every metadata.json every frame
# delivered was written, none dropped by any cause; CHECK calls (default 3) are also recorded with `verbatim
# record --simulate` of the same meeting and seed, and listen must have written exactly as many frames per
# participant. `verbatim verify` is run on every recording.
#
# GStreamer beside it, in the same run and on the same calls: the stems listen wrote for calls 1..GST (default
# 10) are mixed and encoded by the pipeline a user would script instead, whole-process CPU of gst-launch-1.0
# (/usr/bin/time) per recorded second:
#   default:  filesrc ! wavparse (x4) ! audiomixer ! audioconvert ! audioresample ! opusenc bitrate=32000
#             ! oggmux ! filesink   (opusenc's defaults: complexity 10, generic audio)
#   same:     the same with opusenc audio-type=restricted-lowdelay complexity=0 (Verbatim's mix settings)
# GST=0 skips it. GStreamer is installed from Debian's packages when missing (scripts/ensure-gstreamer.sh, which
# compare-gstreamer.sh uses too); if it cannot be, the comparison says so loudly and is skipped.
#
# Usage: benches/listen-load.sh   (env: CALLS=50, DURATION=120s, INPUT=meeting, CHECK=3, GST=10, OUT=/tmp dir,
#                                  CARGO_TARGET_DIR; VERBATIM_BIN=path uses that binary, for A/B runs;
#                                  LISTEN_ARGS="--coalesce 0" more listen options, e.g. for A/B runs)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
calls="${CALLS:-50}"
duration="${DURATION:-120s}"
input="${INPUT:-meeting}"
check="${CHECK:-3}"
gst="${GST:-10}"
case "$input" in
    meeting) sim=(--simulate --meeting standup --participants 4) ;;
    synthetic) sim=(--simulate --participants 4) ;;
    townhall) sim=(--simulate --meeting townhall --participants 12) ;;
    *) echo "INPUT=$input: expected meeting, synthetic or townhall" >&2; exit 1 ;;
esac

if [ "$gst" -gt 0 ]; then
    "$here/scripts/ensure-gstreamer.sh" audiomixer audioconvert audioresample opusenc oggmux wavparse ||
        gst_missing=1
fi

if [ -n "${VERBATIM_BIN:-}" ]; then
    # A given binary (an A/B comparison of two builds in one sitting): used as it is, not rebuilt.
    verbatim="$VERBATIM_BIN"
else
    echo "building verbatim (release)..." >&2
    (cd "$here" && cargo build --release -q -p verbatim)
    verbatim="${CARGO_TARGET_DIR:-$here/target}/release/verbatim"
fi

tmp="$(mktemp -d "${OUT:-/tmp}/verbatim-listen-load.XXXXXX")"
listen_pid=""
cleanup() {
    [ -n "$listen_pid" ] && kill "$listen_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
"$verbatim" keygen --out "$tmp/key" >/dev/null 2>&1
mkdir -p "$tmp/listen"
"$verbatim" listen --bind 127.0.0.1:0 --out "$tmp/listen" --no-auth --signing-key "$tmp/key" \
    --max-calls "$((calls + 8))" ${LISTEN_ARGS:-} >"$tmp/listen.log" 2>&1 &
listen_pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$tmp/listen.log" && break
    sleep 0.1
done
addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$tmp/listen.log" | head -1)
[ -n "$addr" ] || { echo "listen did not start:" >&2; cat "$tmp/listen.log" >&2; exit 1; }
ticks() { awk '{ print $14, $15 }' "/proc/$listen_pid/stat"; }
# Minor page faults (memory touched for the first time: rings, queues and buffers as calls warm up).
faults() { awk '{ print $10 }' "/proc/$listen_pid/stat"; }
clk=$(getconf CLK_TCK)

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
read -r bu bs <<<"$(ticks)"
f0=$(faults)
t0=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$tmp/send-time" \
    "$verbatim" send --connect "$addr" "${sim[@]}" --duration "$duration" --calls "$calls" --seed 1 \
    >"$tmp/send.log" 2>&1 || { cat "$tmp/send.log" >&2; exit 1; }
sleep 0.3 # the server's last writes after the summaries
read -r au as <<<"$(ticks)"
f1=$(faults)
# Peak resident memory of the server (all calls open at once, at their fullest).
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$listen_pid/status")
t1=$(date +%s.%N)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$listen_pid"
wait "$listen_pid" 2>/dev/null || true
listen_pid=""

completed=$(grep -c ": completed into" "$tmp/send.log" || true)
[ "$completed" = "$calls" ] || { echo "only $completed of $calls calls completed:" >&2; cat "$tmp/send.log" >&2; exit 1; }
secs=$(grep -o '([0-9.]* s,' "$tmp/send.log" | tr -d '(s,' | awk '{ s += $1 } END { print s }')

# Whole: every delivered frame written, nothing dropped, in every call; verify passes.
total=0
for md in "$tmp"/listen/*/metadata.json; do
    d=$(grep -o '"frames_delivered": [0-9]*' "$md" | awk '{ s += $2 } END { print s + 0 }')
    w=$(grep -o '"frames_written": [0-9]*' "$md" | awk '{ s += $2 } END { print s + 0 }')
    x=$(grep -o '"frames_dropped": [0-9]*' "$md" | awk '{ s += $2 } END { print s + 0 }')
    [ "$d" = "$w" ] && [ "$x" = 0 ] || { echo "NOT WHOLE: $md: $d delivered, $w written, $x dropped" >&2; exit 1; }
    total=$((total + w))
    "$verbatim" verify "$(dirname "$md")" --public-key "$tmp/key.pub" >/dev/null
done
# Against record of the same meetings: the same frames per participant.
for n in $(seq "$check"); do
    "$verbatim" record "${sim[@]}" --duration "$duration" --seed "$n" --out "$tmp/rec-$n" \
        --signing-key "$tmp/key" --quiet >/dev/null
    want=$(grep -o '"frames_written": [0-9]*' "$tmp/rec-$n/metadata.json" | sort | tr '\n' ' ')
    got=$(grep -o '"frames_written": [0-9]*' "$tmp/listen/sim-$n/metadata.json" | sort | tr '\n' ' ')
    [ "$want" = "$got" ] || { echo "NOT WHOLE: call $n: listen wrote [$got], record [$want]" >&2; exit 1; }
done

read -r su ss <"$tmp/send-time"
awk -v bu="$bu" -v bs="$bs" -v au="$au" -v as="$as" -v c="$clk" -v s="$secs" -v w0="$t0" -v w1="$t1" \
    -v n="$calls" -v su="$su" -v ss="$ss" -v f="$total" -v input="$input" -v d="$duration" \
    -v f0="$f0" -v f1="$f1" -v hwm="$hwm" 'BEGIN {
    user = (au - bu) / c; sys = (as - bs) / c; cpu = user + sys
    printf "listen: %d calls x %s (%s input) in real time, %.0f s recorded, %d frames written (all whole)\n", n, d, input, s, f
    printf "listen process CPU %.2f s in %.1f s wall = %.3f ms per recorded second (%.2f of a core); send %.2f s\n", cpu, w1 - w0, cpu * 1000 / s, cpu / (w1 - w0), su + ss
    printf "  of which user %.2f s (%.3f ms per recorded second), kernel %.2f s (%.3f ms)\n", user, user * 1000 / s, sys, sys * 1000 / s
    printf "memory: peak resident %.0f MiB (%.2f MiB per call; an idle server holds ~16 MiB); %d minor page faults (%.1f per recorded second)\n", hwm / 1024, hwm / 1024 / n, f1 - f0, (f1 - f0) / s
}'
grep "hand-off\|group commit\|media threads" "$tmp/listen.log" || true
if [ "${gst_missing:-0}" = 1 ]; then
    echo "!!! GStreamer NOT MEASURED: it could not be installed (scripts/ensure-gstreamer.sh)" >&2
    gst=0
fi
if [ "$gst" -gt 0 ]; then
    [ "$gst" -le "$calls" ] || gst="$calls"
    for mode in default same; do
        case "$mode" in
            default) enc="opusenc bitrate=32000" ;;
            same) enc="opusenc bitrate=32000 audio-type=restricted-lowdelay complexity=0" ;;
        esac
        cpu=0
        gsecs=0
        for n in $(seq "$gst"); do
            src=()
            for w in "$tmp/listen/sim-$n"/participants/*.wav; do
                src+=(filesrc "location=$w" '!' wavparse '!' m.)
            done
            # shellcheck disable=SC2086
            /usr/bin/time -f "%U %S" -o "$tmp/gst-time" gst-launch-1.0 -q audiomixer name=m '!' audioconvert \
                '!' audioresample '!' $enc '!' oggmux '!' filesink "location=$tmp/gst-$n.ogg" "${src[@]}" \
                >/dev/null
            cpu=$(awk '{ print $1 + $2 }' "$tmp/gst-time" | awk -v c="$cpu" '{ print c + $1 }')
            d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$tmp/gst-$n.ogg")
            gsecs=$(awk -v a="$gsecs" -v b="$d" 'BEGIN { print a + b }')
        done
        awk -v c="$cpu" -v s="$gsecs" -v m="$mode" -v n="$gst" -v b="$((bu + bs))" -v a="$((au + as))" -v k="$clk" \
            -v r="$secs" 'BEGIN {
            g = c * 1000 / s; v = (a - b) / k * 1000 / r
            printf "GStreamer (%s opusenc) on the stems of calls 1..%d: %.2f s CPU for %.0f s = %.3f ms per recorded second; listen uses %.1fx less\n", m, n, c, s, g, g / v
        }'
    done
fi
echo "checked: every call completed, every delivered frame written (0 dropped), verify passes on all $calls;"
echo "calls 1..$check: listen wrote the same frames per participant as record of the same meeting"
