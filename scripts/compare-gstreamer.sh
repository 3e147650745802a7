#!/usr/bin/env bash
# Compares the CPU cost of Verbatim with a GStreamer pipeline doing the same job on the same input:
# four 16 kHz participants (testdata/media/{alice,bob,carol,dave}.flac, decoded to WAV in a temp dir: both
# tools read the same WAVs) -> four WAV stems + a WAV mix +
# the mix Opus-encoded (32 kbit/s, CELT only = restricted low delay, complexity 0, 20 ms frames, as Verbatim's
# mix encoder) in MP4.
#
#   GStreamer: filesrc ! wavparse ! tee -> wavenc (stem) and -> audiomixer -> tee -> wavenc (mix)
#                                                                              -> opusenc ! mp4mux
#   Verbatim:  verbatim record --source alice=... (x4) --out DIR   (release build; also signs a hash-chained
#              manifest, fsyncs every second, and runs the Teams platform model of the file source)
#
# Both run as fast as they can. Each is run RUNS times (default 5) on the 24 s inputs and on the inputs
# concatenated 10x (240 s, made with ffmpeg in a temp dir); the median CPU time (user + sys of the whole
# process tree, from bash `times`) and the ratio are printed. Both outputs are checked with
# ffprobe. GStreamer is installed from Debian packages with apt-get when missing.
#
# Usage: scripts/compare-gstreamer.sh            (env: RUNS=5, MEDIA=testdata/media, CARGO_TARGET_DIR)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
media="${MEDIA:-$here/testdata/media}"
runs="${RUNS:-5}"
names=(alice bob carol dave)

need_gst=0
command -v gst-launch-1.0 >/dev/null || need_gst=1
if [ "$need_gst" = 0 ]; then
    for el in audiomixer opusenc mp4mux wavenc wavparse; do
        gst-inspect-1.0 "$el" >/dev/null 2>&1 || need_gst=1
    done
fi
if [ "$need_gst" = 1 ]; then
    echo "installing GStreamer (Debian packages)..." >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad >/dev/null
fi
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

# The short input: each FLAC decoded to a WAV (GStreamer's wavparse); the long one: each WAV concatenated 10 times.
mkdir -p "$tmp/short" "$tmp/long"
for n in "${names[@]}"; do
    ffmpeg -v error -i "$media/$n.flac" -c:a pcm_s16le "$tmp/short/$n.wav"
    ffmpeg -v error -stream_loop 9 -i "$tmp/short/$n.wav" -c copy "$tmp/long/$n.wav"
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

verbatim_run() { # input dir, output dir
    local in="$1" out="$2"
    rm -rf "$out"
    local args=()
    for n in "${names[@]}"; do args+=(--source "$n=$in/$n.wav"); done
    "$verbatim" record "${args[@]}" --out "$out" --signing-key "$tmp/key" --quiet
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

printf "\n%-12s %-10s %12s %12s %8s\n" "input" "tool" "median CPU s" "runs" "ratio"
for set in short long; do
    if [ "$set" = short ]; then in="$tmp/short"; label="4 x 24 s"; else in="$tmp/long"; label="4 x 240 s"; fi
    g=(); v=()
    for _ in $(seq "$runs"); do
        g+=("$(cpu_seconds gst_run "$in" "$tmp/gst-$set")")
        v+=("$(cpu_seconds verbatim_run "$in" "$tmp/vb-$set")")
    done
    gm=$(printf "%s\n" "${g[@]}" | median)
    vm=$(printf "%s\n" "${v[@]}" | median)
    ratio=$(awk -v a="$vm" -v b="$gm" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf "%-12s %-10s %12s %12s %8s\n" "$label" "GStreamer" "$gm" "$(IFS=,; echo "${g[*]}")" ""
    printf "%-12s %-10s %12s %12s %8s\n" "$label" "Verbatim" "$vm" "$(IFS=,; echo "${v[*]}")" "${ratio}x"
    check_outputs "$tmp/gst-$set" "$tmp/vb-$set"
done
echo "(ratio = Verbatim CPU / GStreamer CPU; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
