//! The encoder's digital-silence fast path (`OpusEncoder::quiet_frames`): a mix that is silent for most of a
//! call must decode as libopus' own stream would, at the mix's settings (CELT only, complexity 0, 32 kbit/s).

mod common;

use codecs::opus::{OpusApplication, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use common::{energy, snr_db, speech};
use media_core::AudioFormat;

const FRAME: usize = 320;

fn mix_config() -> OpusEncoderConfig {
    OpusEncoderConfig {
        application: OpusApplication::LowDelay,
        complexity: 0,
        ..OpusEncoderConfig::default()
    }
}

/// libopus itself at the same settings, called for every frame.
fn reference_encoder() -> opus::Encoder {
    let mut e =
        opus::Encoder::new(16_000, opus::Channels::Mono, opus::Application::LowDelay).unwrap();
    e.set_bitrate(opus::Bitrate::Bits(32_000)).unwrap();
    e.set_complexity(0).unwrap();
    e.set_signal(opus::Signal::Voice).unwrap();
    e
}

fn decode(packets: &[Vec<u8>]) -> Vec<i16> {
    let mut dec = OpusDecoder::new(AudioFormat::PCM16K).unwrap();
    let mut out = Vec::new();
    for p in packets {
        out.extend_from_slice(dec.decode(p).unwrap());
    }
    out
}

#[test]
fn a_long_silence_is_not_reencoded_and_decodes_as_libopus_would() {
    let alice = speech("alice");
    let talk = &alice[..6 * 16_000];
    // Speech, 30 s of digital silence, speech again, a 100 ms silence (too short to settle), speech.
    let mut pcm = talk.to_vec();
    pcm.extend(std::iter::repeat_n(0i16, 30 * 16_000));
    pcm.extend_from_slice(talk);
    pcm.extend(std::iter::repeat_n(0i16, 1_600));
    pcm.extend_from_slice(talk);

    let mut ours = OpusEncoder::new(mix_config()).unwrap();
    let mut libopus = reference_encoder();
    let mut buf = vec![0u8; 4000];
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for f in pcm.chunks_exact(FRAME) {
        a.push(ours.encode(f).unwrap().to_vec());
        let n = libopus.encode(f, &mut buf).unwrap();
        b.push(buf[..n].to_vec());
    }
    // 30 s is 1,500 frames; libopus needs ~20 to decay to its silence packet, then 4 more to settle (the
    // recording of alice has a few digital-zero frames of its own at the end of the 6 s).
    let quiet = ours.quiet_frames();
    assert!(
        (1_400..1_520).contains(&quiet),
        "{quiet} frames served as silence"
    );

    // In the long silence, once libopus has gone silent, exactly libopus' own silence packet.
    let first = talk.len() / FRAME;
    let silence = first..first + 1_500;
    let settled = b[silence.clone()]
        .iter()
        .rposition(|p| p.len() > 8)
        .unwrap()
        + 1;
    assert!(settled < 100, "libopus took {settled} frames to go silent");
    for i in silence.start + settled..silence.end {
        assert!(
            a[i] == b[i],
            "frame {i} in the silence: {:?} vs {:?}",
            a[i],
            b[i]
        );
    }

    // Decoded: silence is silence, and the speech after it is as good as libopus' (same alignment).
    let (da, db) = (decode(&a), decode(&b));
    let delay = usize::from(ours.pre_skip()) * 16_000 / 48_000;
    // The first speech (alice's recording has short digital-zero runs of its own): as good as libopus'.
    let snr1 = snr_db(&talk[..talk.len() - delay], &da[delay..talk.len()]);
    let snr1_lib = snr_db(&talk[..talk.len() - delay], &db[delay..talk.len()]);
    assert!(snr1 >= snr1_lib - 0.3, "{snr1:.2} vs {snr1_lib:.2} dB");
    let s0 = (first + settled + 5) * FRAME;
    assert!(da[s0..silence.end * FRAME].iter().all(|&s| s == 0));
    let second = silence.end * FRAME;
    let snr_ours = snr_db(talk, &da[second + delay..second + delay + talk.len()]);
    let snr_libopus = snr_db(talk, &db[second + delay..second + delay + talk.len()]);
    println!("speech after 30 s of silence: {snr_ours:.2} dB ours, {snr_libopus:.2} dB libopus");
    assert!(
        snr_ours >= snr_libopus - 0.3,
        "{snr_ours:.2} vs {snr_libopus:.2} dB"
    );
    // The first 100 ms after the silence carry no pop: energy within 1 dB of libopus' decode.
    let head = second..second + 1_600;
    let ratio = energy(&da[head.clone()]) / energy(&db[head]).max(1.0);
    assert!(
        (0.79..1.26).contains(&ratio),
        "onset energy ratio {ratio:.2}"
    );
    // A 100 ms pause never settles: nothing more is skipped, and the third speech is as good as libopus'.
    let third = (second + talk.len() + 1_600) / FRAME;
    assert_eq!(ours.quiet_frames(), quiet);
    let all = a.len();
    assert_eq!(all, b.len());
    let t3 = &talk[..talk.len() - delay];
    let snr3 = snr_db(
        t3,
        &da[third * FRAME + delay..third * FRAME + delay + talk.len() - delay],
    );
    let snr3_lib = snr_db(
        t3,
        &db[third * FRAME + delay..third * FRAME + delay + talk.len() - delay],
    );
    assert!(snr3 >= snr3_lib - 0.3, "{snr3:.2} vs {snr3_lib:.2} dB");
}

#[test]
fn a_frame_length_change_in_silence_is_encoded_not_served_from_the_cache() {
    let mut enc = OpusEncoder::new(mix_config()).unwrap();
    let mut dec = OpusDecoder::new(AudioFormat::PCM16K).unwrap();
    for _ in 0..50 {
        enc.encode(&[0i16; FRAME]).unwrap();
    }
    let before = enc.quiet_frames();
    assert!(before > 0);
    // 40 ms of silence: the cached 20 ms packet would play half the time.
    let p = enc.encode(&[0i16; 2 * FRAME]).unwrap().to_vec();
    assert_eq!(enc.quiet_frames(), before);
    assert_eq!(dec.decode(&p).unwrap().len(), 2 * FRAME);
}
