#!/usr/bin/env bash
# Compares the CPU cost of Verbatim with a GStreamer pipeline doing the same job on the same input:
# four 16 kHz participants (made from testdata/media/{alice,bob,carol,dave}.flac as WAVs in a temp dir: every
# tool reads the same WAVs) -> four WAV stems + a WAV mix +
# the mix Opus-encoded (32 kbit/s, CELT only = restricted low delay, complexity 0, 20 ms frames, as Verbatim's
# mix encoder) in MP4.
#
#   GStreamer: filesrc ! wavparse ! tee -> wavenc (stem) and -> audiomixer -> tee -> wavenc (mix)
#                                                                              -> opusenc ! mp4mux
#   gst-default: the mix alone with opusenc's defaults, as a user would script it (issue 14's anchor):
#              filesrc ! wavparse (x4) ! audiomixer ! audioconvert ! audioresample ! opusenc bitrate=32000
#              ! oggmux ! filesink
#   record:    verbatim record --source alice=... (x4) --out DIR   (release build; also signs a hash-chained
#              manifest, fsyncs every second, and runs the Teams platform model of the file source)
#   listen:    the real server path: `verbatim listen` (one server for the whole run) fed by `verbatim send
#              --fast --source alice=... (x4)` in another process; the figure is the CPU the listen process
#              spent on the call (utime + stime from /proc/PID/stat, before and after the call), send's own CPU
#              is printed beside it
#
# Inputs (SETS, default all three):
#   short     the four 24 s samples (each speaks one ~6 s sentence; pauses under 7 s)
#   long      the samples concatenated 10x (240 s; the same ~18 s pauses, over and over)
#   silences  240 s shaped like a meeting: each speaker's sentence (7 s cut from its sample) placed 2-4 times
#             in turn-taking with silences of 13 s to 3 min (dave is silent for 180 s, everyone for 200-217 s
#             of the 240 s); digital silence, which the Teams platform model does not send
# Both run as fast as they can. Each is run RUNS times (default 5); the median CPU time (user + sys of the
# whole process tree, from bash `times`; for listen, the server process's) and the ratio to GStreamer are
# printed. Every Verbatim recording is checked to be whole before its figure counts: each stem equals its
# input sample for sample, frames written = frames delivered (metadata.json), nothing dropped; `verbatim
# verify` passes. GStreamer's and Verbatim's outputs are checked with ffprobe/ffmpeg. GStreamer is installed
# from Debian packages with apt-get when missing.
#
# Usage: scripts/compare-gstreamer.sh   (env: RUNS=5, SETS="short long silences", MEDIA=testdata/media,
#                                        CARGO_TARGET_DIR)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
media="${MEDIA:-$here/testdata/media}"
runs="${RUNS:-5}"
sets="${SETS:-short long silences}"
names=(alice bob carol dave)

"$here/scripts/ensure-gstreamer.sh" audiomixer opusenc mp4mux wavenc wavparse
for tool in ffmpeg ffprobe; do
    command -v "$tool" >/dev/null || { echo "$tool missing: run scripts/setup.sh" >&2; exit 1; }
done
for n in "${names[@]}"; do
    [ -f "$media/$n.flac" ] || { echo "missing $media/$n.flac" >&2; exit 1; }
done

echo "building verbatim (release)..." >&2
(cd "$here" && cargo build --release -q -p verbatim)
target="${CARGO_TARGET_DIR:-$here/target}"
verbatim="$target/release/verbatim"
[ -x "$verbatim" ] || { echo "no $verbatim" >&2; exit 1; }

tmp="$(mktemp -d /tmp/verbatim-vs-gst.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
"$verbatim" keygen --out "$tmp/key" >/dev/null 2>&1

# The short input: each FLAC decoded to a WAV (GStreamer's wavparse); the long one: each WAV concatenated 10
# times; the silences one: each speaker's sentence placed in turn-taking with long silences (see the top).
# The sentence starts at 0, 6, 11 and 15 s in the samples; 7 s from there hold it whole.
declare -A said_at=([alice]=0 [bob]=6 [carol]=11 [dave]=15)
declare -A speaks_at=([alice]="0 20 115 228" [bob]="7 45 160" [carol]="14 60 80 200" [dave]="30 215")
silences_wav() { # name, output: 240 s of digital silence with the speaker's sentence at speaks_at
    local n="$1" out="$2" graph="" labels="" i=0 prev=0 t gap
    for t in ${speaks_at[$n]}; do
        gap=$((t - prev))
        if [ "$gap" -gt 0 ]; then
            graph+="anullsrc=r=16000:cl=mono,atrim=duration=$gap[s$i];"
            labels+="[s$i]"
        fi
        graph+="[0:a]atrim=start=${said_at[$n]}:duration=7,asetpts=PTS-STARTPTS[v$i];"
        labels+="[v$i]"
        i=$((i + 1))
        prev=$((t + 7))
    done
    graph+="anullsrc=r=16000:cl=mono,atrim=duration=$((240 - prev))[s$i];"
    labels+="[s$i]"
    local parts
    parts=$(grep -o '\[' <<<"$labels" | wc -l)
    ffmpeg -v error -i "$media/$n.flac" -filter_complex \
        "${graph}${labels}concat=n=$parts:v=0:a=1,aformat=sample_fmts=s16:sample_rates=16000:channel_layouts=mono[o]" \
        -map "[o]" -c:a pcm_s16le "$out"
}
mkdir -p "$tmp/short" "$tmp/long" "$tmp/silences"
for n in "${names[@]}"; do
    ffmpeg -v error -i "$media/$n.flac" -c:a pcm_s16le "$tmp/short/$n.wav"
    ffmpeg -v error -stream_loop 9 -i "$tmp/short/$n.wav" -c copy "$tmp/long/$n.wav"
    silences_wav "$n" "$tmp/silences/$n.wav"
done

# cpu_seconds CMD... : runs CMD (a shell function or program; output discarded) in a subshell and prints the
# user+sys CPU seconds of everything it started (bash `times`: the subshell's children).
cpu_seconds() {
    local t
    t=$( ( "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }; times ) | tail -1 )
    [ -n "$t" ] || return 1
    # "XmY.YYYs XmZ.ZZZs" (children user, children sys)
    echo "$t" | awk '{ split($1,a,"m"); split($2,b,"m"); sub("s","",a[2]); sub("s","",b[2]);
                       printf "%.3f\n", a[1]*60+a[2]+b[1]*60+b[2] }'
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

gst_run() { # input dir, output dir
    local in="$1" out="$2"
    rm -rf "$out"; mkdir -p "$out"
    local p=""
    for n in "${names[@]}"; do
        p+=" filesrc location=$in/$n.wav ! wavparse ! audioconvert ! audio/x-raw,format=S16LE,rate=16000,channels=1"
        p+=" ! tee name=t_$n ! queue ! mix. t_$n. ! queue ! wavenc ! filesink location=$out/$n.wav"
    done
    p+=" audiomixer name=mix ! audio/x-raw,format=S16LE,rate=16000,channels=1 ! tee name=tm"
    p+=" ! queue ! wavenc ! filesink location=$out/mixed.wav"
    p+=" tm. ! queue ! opusenc bitrate=32000 complexity=0 frame-size=20 audio-type=restricted-lowdelay ! mp4mux ! filesink location=$out/mix.mp4"
    # shellcheck disable=SC2086
    gst-launch-1.0 -q $p
}

# The pipeline a user would script for the mix alone, with opusenc's defaults (issue 14's anchor: complexity
# 10, generic audio): audiomixer ! audioconvert ! audioresample ! opusenc bitrate=32000 ! oggmux.
gst_default_run() { # input dir, output dir
    local in="$1" out="$2"
    rm -rf "$out"; mkdir -p "$out"
    local p="audiomixer name=mix ! audioconvert ! audioresample ! opusenc bitrate=32000 ! oggmux"
    p+=" ! filesink location=$out/mix.ogg"
    for n in "${names[@]}"; do
        p+=" filesrc location=$in/$n.wav ! wavparse ! mix."
    done
    # shellcheck disable=SC2086
    gst-launch-1.0 -q $p
}

record_run() { # input dir, output dir
    local in="$1" out="$2"
    rm -rf "$out"
    local args=()
    for n in "${names[@]}"; do args+=(--source "$n=$in/$n.wav"); done
    "$verbatim" record "${args[@]}" --out "$out" --signing-key "$tmp/key" --quiet
}

# One listen server for the whole run (as in production), on loopback; calls replayed faster than real time.
mkdir -p "$tmp/listen"
"$verbatim" listen --bind 127.0.0.1:0 --out "$tmp/listen" --no-auth --signing-key "$tmp/key" --max-lead off \
    >"$tmp/listen.log" 2>&1 &
listen_pid=$!
trap 'kill "$listen_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
    grep -q "listening on" "$tmp/listen.log" && break
    sleep 0.1
done
listen_addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$tmp/listen.log" | head -1)
[ -n "$listen_addr" ] || { echo "listen did not start:" >&2; cat "$tmp/listen.log" >&2; exit 1; }
clk_tck=$(getconf CLK_TCK)
listen_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$listen_pid/stat"; }

# listen_run input dir, call id: streams the input to the server with `verbatim send --fast`; prints the
# server's CPU seconds for the call, and leaves send's own CPU seconds in $tmp/send-cpu. The recording is
# $tmp/listen/<call id>-1 (send numbers its calls).
listen_run() {
    local in="$1" id="$2" before after
    local args=()
    for n in "${names[@]}"; do args+=(--source "$n=$in/$n.wav"); done
    before=$(listen_cpu_ticks)
    cpu_seconds "$verbatim" send --connect "$listen_addr" --fast --call-id "$id" "${args[@]}" >"$tmp/send-cpu"
    sleep 0.2 # the server's last writes after the summary
    after=$(listen_cpu_ticks)
    awk -v a="$before" -v b="$after" -v t="$clk_tck" 'BEGIN { printf "%.3f\n", (b - a) / t }'
}

# check_whole recording dir, input dir: a figure counts only if the recording is whole: every stem equals its
# input sample for sample, and metadata.json says every delivered frame was written, none dropped.
check_whole() {
    local rec="$1" in="$2" n a b delivered written dropped
    for n in "${names[@]}"; do
        a=$(ffmpeg -v error -i "$in/$n.wav" -f s16le - | md5sum)
        b=$(ffmpeg -v error -i "$rec/participants/$n.wav" -f s16le - | md5sum)
        [ "$a" = "$b" ] || { echo "NOT WHOLE: $rec/participants/$n.wav differs from its input" >&2; return 1; }
    done
    delivered=$(grep -o '"frames_delivered": [0-9]*' "$rec/metadata.json" | awk '{s += $2} END {print s + 0}')
    written=$(grep -o '"frames_written": [0-9]*' "$rec/metadata.json" | awk '{s += $2} END {print s + 0}')
    dropped=$(grep -o '"frames_dropped": [0-9]*' "$rec/metadata.json" | awk '{s += $2} END {print s + 0}')
    [ "$delivered" -gt 0 ] && [ "$delivered" = "$written" ] && [ "$dropped" = 0 ] ||
        { echo "NOT WHOLE: $rec: $delivered frames delivered, $written written, $dropped dropped" >&2; return 1; }
    echo "$written"
}

check_outputs() { # gst dir, verbatim dir
    local g="$1" v="$2"
    echo "  ffprobe GStreamer mix.mp4:    $(ffprobe -v error -show_entries stream=codec_name,sample_rate,channels:format=duration -of csv=p=0 "$g/mix.mp4" | tr '\n' ' ')"
    echo "  ffprobe Verbatim recording.mp4: $(ffprobe -v error -show_entries stream=codec_name,sample_rate,channels:format=duration -of csv=p=0 "$v/recording.mp4" | tr '\n' ' ')"
    for f in "$g/mix.mp4" "$v/recording.mp4" "$g/mixed.wav" "$v/mixed.wav" "$g/alice.wav" "$v/participants/alice.wav"; do
        if ! ffmpeg -v error -i "$f" -f null - 2>"$tmp/ff" || [ -s "$tmp/ff" ]; then
            echo "  FAIL: $f does not decode cleanly:" >&2; cat "$tmp/ff" >&2; return 1
        fi
    done
    "$verbatim" verify "$v" --public-key "$tmp/key.pub" >/dev/null
    echo "  both outputs decode without error (ffmpeg), verbatim verify passes"
}

row() { printf "%-22s %-10s %12s  %-36s %8s\n" "$@"; }
echo
row "input" "tool" "median CPU s" "runs" "ratio"
for set in $sets; do
    case "$set" in
        short) label="4 x 24 s" ;;
        long) label="4 x 240 s (10 x 24)" ;;
        silences) label="4 x 240 s, silences" ;;
        *) echo "unknown set $set (short, long, silences)" >&2; exit 1 ;;
    esac
    in="$tmp/$set"
    g=(); d=(); r=(); l=(); s=()
    for i in $(seq "$runs"); do
        g+=("$(cpu_seconds gst_run "$in" "$tmp/gst-$set")")
        d+=("$(cpu_seconds gst_default_run "$in" "$tmp/gstd-$set")")
        r+=("$(cpu_seconds record_run "$in" "$tmp/rec-$set")")
        frames_record=$(check_whole "$tmp/rec-$set" "$in")
        l+=("$(listen_run "$in" "$set-r$i")")
        s+=("$(cat "$tmp/send-cpu")")
        frames_listen=$(check_whole "$tmp/listen/$set-r$i-1" "$in")
        [ "$frames_listen" = "$frames_record" ] ||
            { echo "listen wrote $frames_listen frames, record $frames_record" >&2; exit 1; }
        [ "$i" = "$runs" ] || rm -rf "$tmp/listen/$set-r$i-1"
    done
    gm=$(printf "%s\n" "${g[@]}" | median)
    ratio() { awk -v a="$1" -v b="$gm" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
    for tool in GStreamer gst-default record listen send; do
        case "$tool" in
            GStreamer) v=("${g[@]}") ;;
            gst-default) v=("${d[@]}") ;;
            record) v=("${r[@]}") ;;
            listen) v=("${l[@]}") ;;
            send) v=("${s[@]}") ;;
        esac
        m=$(printf "%s\n" "${v[@]}" | median)
        row "$label" "$tool" "$m" "$(IFS=,; echo "${v[*]}")" "$([ "$tool" = GStreamer ] && echo "" || ratio "$m")"
    done
    dm=$(printf "%s\n" "${d[@]}" | median)
    lm=$(printf "%s\n" "${l[@]}" | median)
    awk -v d="$dm" -v l="$lm" 'BEGIN { if (l > 0) printf "  listen uses %.1fx less CPU than the default-settings GStreamer mix (gst-default)\n", d / l }'
    ffprobe -v error -show_entries stream=codec_name:format=duration -of csv=p=0 "$tmp/gstd-$set/mix.ogg" >/dev/null ||
        { echo "  FAIL: gst-default mix.ogg does not probe" >&2; exit 1; }
    echo "  whole: every stem of record and listen equals its input sample for sample; $frames_record frames written = delivered, 0 dropped"
    check_outputs "$tmp/gst-$set" "$tmp/rec-$set"
    "$verbatim" verify "$tmp/listen/$set-r$runs-1" --public-key "$tmp/key.pub" >/dev/null
    echo "  verbatim verify passes on the listen recording too"
done
echo "(ratio = CPU / GStreamer's same job with Verbatim's Opus settings; gst-default = the mix alone with opusenc's"
echo " defaults: audiomixer ! audioconvert ! audioresample ! opusenc bitrate=32000 ! oggmux;"
echo " listen = the server process's CPU for the call, send = the bot's;"
echo " machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
