/*
 * record: records the WAV files named on its command line into a folder through Verbatim's C ABI, the way a
 * Teams bot's AudioMediaReceived handler would: one audio event every 20 ms carrying an unmixed buffer for
 * each participant who is not silent (at most four), after a roster event naming everyone.
 *
 *   usage: record OUTDIR NAME=FILE.wav ...     (16 kHz, mono, 16-bit PCM WAV; at most 4 files)
 *
 * Build: scripts/build-c-example.sh (links the static library; the result is target/c-example/record).
 * The stems it writes are identical, sample for sample, to `verbatim record --source NAME=FILE.wav ...`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verbatim.h"

#define FRAME 320                  /* samples per 20 ms at 16 kHz */
#define TICKS_PER_FRAME 200000ULL  /* 20 ms in the SDK's 100 ns ticks */
#define BASE 1000000000ULL         /* the platform clock at the call's start (any value) */
#define SENDER_BASE 5000000000ULL  /* each sender's own capture clock (any value; offset per sender) */

typedef struct {
    char name[128];
    int16_t *pcm;
    size_t samples;
} Input;

static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Reads a 16 kHz mono 16-bit PCM WAV; returns 0 on success, else prints why. */
static int read_wav(const char *path, Input *in) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    unsigned char h[12], ch[8];
    int ok = 0, fmt_ok = 0;
    if (fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) {
        fprintf(stderr, "%s: not a RIFF/WAVE file\n", path);
        fclose(f);
        return -1;
    }
    while (fread(ch, 1, 8, f) == 8) {
        uint32_t size = le32(ch + 4);
        if (!memcmp(ch, "fmt ", 4)) {
            unsigned char fmt[16];
            if (size < 16 || fread(fmt, 1, 16, f) != 16) break;
            fmt_ok = le16(fmt) == 1 && le16(fmt + 2) == 1 && le32(fmt + 4) == 16000 && le16(fmt + 14) == 16;
            if (fseek(f, (long)(size - 16 + (size & 1)), SEEK_CUR)) break;
        } else if (!memcmp(ch, "data", 4)) {
            if (!fmt_ok) break;
            in->samples = size / 2;
            in->pcm = malloc(in->samples * 2 + 1);
            if (!in->pcm || fread(in->pcm, 2, in->samples, f) != in->samples) break;
            ok = 1; /* little-endian host assumed, as the samples are used as they are */
            break;
        } else if (fseek(f, (long)(size + (size & 1)), SEEK_CUR)) {
            break;
        }
    }
    fclose(f);
    if (!ok) fprintf(stderr, "%s: expected a 16 kHz mono 16-bit PCM WAV\n", path);
    return ok ? 0 : -1;
}

static int check(int rc, const char *what) {
    if (rc < 0) {
        const char *e = vb_last_error();
        fprintf(stderr, "%s: %s\n", what, e ? e : "(no message)");
        exit(1);
    }
    return rc;
}

/* Answers the engine: report `recording` (here: Graph always accepts), print the rest. */
static void drain(VbCall *call) {
    VbMessage m;
    while (check(vb_call_poll(call, &m), "poll") == 1) {
        if (m.kind == VB_MESSAGE_STATUS_REQUEST && m.status == VB_STATUS_RECORDING) {
            check(vb_call_confirm(call, true, NULL), "confirm");
        } else if (m.kind == VB_MESSAGE_ERROR) {
            fprintf(stderr, "engine: error %d: %s\n", m.code, m.text ? m.text : "");
        } else if (m.kind == VB_MESSAGE_SUMMARY) {
            printf("recorded %u participants, %.2f s into %s (%s)\n", m.participants, m.duration_us / 1e6,
                   m.folder ? m.folder : "-", m.status == VB_SUMMARY_COMPLETED ? "completed" : "failed");
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 3 || argc - 2 > 4) {
        fprintf(stderr, "usage: %s OUTDIR NAME=FILE.wav ...   (1 to 4 files: 16 kHz mono 16-bit PCM)\n", argv[0]);
        return 2;
    }
    if (vb_abi_version() != VB_ABI_VERSION) {
        fprintf(stderr, "libverbatim_ffi has ABI %u, this program was built for %u\n", vb_abi_version(), VB_ABI_VERSION);
        return 1;
    }
    int n = argc - 2;
    Input in[4];
    memset(in, 0, sizeof in);
    size_t frames = 0;
    for (int i = 0; i < n; i++) {
        const char *arg = argv[i + 2], *eq = strchr(arg, '=');
        if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof in[i].name) {
            fprintf(stderr, "%s: expected NAME=FILE.wav\n", arg);
            return 2;
        }
        memcpy(in[i].name, arg, (size_t)(eq - arg));
        if (read_wav(eq + 1, &in[i])) return 1;
        size_t f = (in[i].samples + FRAME - 1) / FRAME;
        if (f > frames) frames = f;
    }

    VbConfig *cfg = vb_config_new();
    check(vb_config_set(cfg, "out_dir", argv[1]), "out_dir");
    check(vb_config_set(cfg, "call_id", "c-example"), "call_id");
    const char *key = getenv("VERBATIM_SIGNING_KEY");
    if (key) check(vb_config_set(cfg, "signing_key", key), "signing_key");
    VbCall *call = vb_call_start(cfg);
    if (!call) check(-1, "start");
    vb_config_free(cfg);
    drain(call); /* the status request: confirmed before any media (nothing is held) */

    for (int i = 0; i < n; i++) {
        VbMediaStream s = {(uint32_t)(i + 1), VB_STREAM_AUDIO};
        check(vb_call_participant_joined(call, BASE, in[i].name, in[i].name, false, &s, 1), "roster");
    }
    /* The first audio event is the recording's time zero; a frame captured in [t, t + 20 ms) is delivered in the
     * event stamped t + 20 ms, as the SDK does. */
    check(vb_call_push_audio(call, BASE, true, NULL, 0), "audio");
    int16_t frame[4][FRAME];
    for (size_t j = 0; j < frames; j++) {
        VbUnmixedBuffer b[4];
        size_t count = 0;
        for (int i = 0; i < n; i++) {
            size_t from = j * FRAME, k, nonzero = 0;
            for (k = 0; k < FRAME; k++) {
                int16_t v = from + k < in[i].samples ? in[i].pcm[from + k] : 0;
                frame[i][k] = v;
                nonzero |= v != 0;
            }
            if (!nonzero) continue; /* the SDK sends no buffer for a silent participant */
            b[count].active_speaker_id = (uint32_t)(i + 1);
            b[count].data = (const uint8_t *)frame[i];
            b[count].len = sizeof frame[i];
            /* The sender's capture clock (OriginalSenderTimestamp): places the frame exactly, silences included. */
            b[count].original_sender_timestamp = SENDER_BASE + (uint64_t)i * 10000000ULL + j * TICKS_PER_FRAME;
            count++;
        }
        check(vb_call_wait_for_room(call), "wait"); /* a replay faster than real time: wait, never drop */
        check(vb_call_push_audio(call, BASE + (j + 1) * TICKS_PER_FRAME, count == 0, count ? b : NULL, count), "audio");
        drain(call);
    }
    check(vb_call_end(call, BASE + frames * TICKS_PER_FRAME), "end");
    int rc = vb_call_wait(call);
    drain(call);
    if (rc < 0) check(rc, "recording");
    vb_call_free(call);
    for (int i = 0; i < n; i++) free(in[i].pcm);
    return 0;
}
