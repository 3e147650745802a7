#!/usr/bin/env bash
# Makes the test fixtures in testdata/media/ (testdata/media/README.md says what each one is).
#
#   testdata/make-media.sh                 remakes the two video clips from ffmpeg's lavfi sources
#   testdata/make-media.sh WAV_DIR         also converts WAV_DIR/{alice,bob,carol,dave}.wav (16 kHz mono s16)
#                                          to lossless FLAC and checks the samples decode bit-identical
#
# The outputs are committed: tests read them and never run this script. Run it again only to change a
# fixture, then run the suite (tests assert the properties listed in the README: frame counts, key frames,
# white frames and beeps at 2/5/8 s, durations). x264 runs on one thread so that the output is the same on
# every machine with the same ffmpeg/x264 (made with ffmpeg 5.1, x264 core 164).
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)/media"
mkdir -p "$out"
for tool in ffmpeg ffprobe; do
    command -v "$tool" >/dev/null || { echo "$tool missing: run scripts/setup.sh" >&2; exit 1; }
done
ff=(ffmpeg -hide_banner -v error -y)
# No muxer version tags: the files depend only on the encoders' output.
bitexact=(-fflags +bitexact -flags:v +bitexact -flags:a +bitexact)

# erin-sync.mp4: a camera participant with A/V sync markers. SMPTE HD bars with a black square moving 3 px
# per frame (so every P frame carries motion); frames 60, 150 and 240 (2.000, 5.000, 8.000 s) are full white
# (Y = 235), and the audio is digital silence except a 50 ms 1 kHz beep at half scale starting at exactly
# samples 32,000, 80,000 and 128,000 (the same instants). H.264 Constrained Baseline 1280x720 30 fps, no
# B-frames, an IDR every 60 frames and also at the white frames of 5 s and 8 s (forced; scene-cut detection
# off), so the IDRs are frames 0, 60, 120, 150, 210, 240. AAC-LC 16 kHz mono.
beep='0.5*sin(2*PI*1000*n/16000)*(between(n,32000,32799)+between(n,80000,80799)+between(n,128000,128799))'
"${ff[@]}" \
    -filter_complex "smptehdbars=size=1280x720:rate=30:duration=10[bars];
        color=c=black:size=160x160:rate=30:duration=10[square];
        [bars][square]overlay=x='40+3*n':y=280:eval=frame,
        drawbox=c=white:t=fill:enable='eq(n,60)+eq(n,150)+eq(n,240)',format=yuv420p[v];
        aevalsrc='$beep':s=16000:d=10[a]" \
    -map '[v]' -map '[a]' \
    -c:v libx264 -profile:v baseline -preset medium -crf 30 -g 60 -sc_threshold 0 \
    -force_key_frames 'expr:eq(n,150)+eq(n,240)' -threads 1 \
    -c:a aac -b:a 32k -ac 1 -ar 16000 \
    "${bitexact[@]}" "$out/erin-sync.mp4"

# screenshare.mp4: a screen share. SMPTE bars with a small white "pointer" moving across them; H.264
# Constrained Baseline 1920x1080 5 fps, no B-frames, an IDR every 25 frames (0 and 25), no audio.
"${ff[@]}" \
    -filter_complex "smptebars=size=1920x1080:rate=5:duration=10[bars];
        color=c=white:size=24x24:rate=5:duration=10[pointer];
        [bars][pointer]overlay=x='200+30*n':y='300+10*n':eval=frame,format=yuv420p[v]" \
    -map '[v]' \
    -c:v libx264 -profile:v baseline -preset medium -crf 30 -g 25 -sc_threshold 0 -threads 1 \
    "${bitexact[@]}" "$out/screenshare.mp4"

# The four speakers: WAV -> FLAC (lossless; compression level 12 is ffmpeg's smallest), then a check that the
# decoded samples are exactly the WAV's.
if [ $# -ge 1 ]; then
    for n in alice bob carol dave; do
        wav="$1/$n.wav"
        "${ff[@]}" -i "$wav" -c:a flac -compression_level 12 "${bitexact[@]}" "$out/$n.flac"
        a=$(ffmpeg -v error -i "$wav" -f s16le - | sha256sum)
        b=$(ffmpeg -v error -i "$out/$n.flac" -f s16le - | sha256sum)
        [ "$a" = "$b" ] || { echo "$n.flac does not decode to $wav's samples" >&2; exit 1; }
    done
fi

# What was made (compare with the README's table).
for f in "$out"/*.mp4 "$out"/*.flac; do
    [ -f "$f" ] || continue
    printf '%s (%s bytes)\n' "$(basename "$f")" "$(stat -c %s "$f")"
    ffprobe -v error -show_entries \
        stream=codec_name,profile,width,height,r_frame_rate,nb_frames,sample_rate,channels,duration_ts:format=duration \
        -of compact=p=0 "$f" | sed 's/^/  /'
done
