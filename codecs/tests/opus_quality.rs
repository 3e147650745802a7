//! Opus round trips on a real voice (alice, Teams Pcm16K): SNR, packet loss concealment, in-band FEC.

mod common;

use codecs::opus::{Concealment, OpusApplication, OpusDecoder, OpusEncoder, OpusEncoderConfig};
use common::{energy, snr_db, speech};
use media_core::AudioFormat;

const FRAME: usize = 320;

fn alice() -> Vec<i16> {
    speech("alice")
}

fn encode_all(pcm: &[i16], config: OpusEncoderConfig) -> (Vec<Vec<u8>>, usize) {
    let mut enc = OpusEncoder::new(config).unwrap();
    let delay = usize::from(enc.pre_skip()) * 16_000 / 48_000;
    let packets = pcm
        .chunks_exact(FRAME)
        .map(|f| enc.encode(f).unwrap().to_vec())
        .collect();
    (packets, delay)
}

/// The first 6 s hold alice's sentence; the 20 ms frame whose weakest neighbour is loudest is deep in voiced
/// speech.
fn voiced_frame(pcm: &[i16]) -> usize {
    let e: Vec<f64> = pcm.chunks_exact(FRAME).map(energy).collect();
    (10..e.len() - 10)
        .max_by(|&a, &b| {
            let ma = e[a - 1].min(e[a]).min(e[a + 1]);
            let mb = e[b - 1].min(e[b]).min(e[b + 1]);
            ma.total_cmp(&mb)
        })
        .unwrap()
}

#[test]
fn round_trip_snr_at_32_kbps() {
    let pcm = alice();
    for complexity in [1u8, 10] {
        let config = OpusEncoderConfig {
            complexity,
            ..OpusEncoderConfig::default()
        };
        let (packets, delay) = encode_all(&pcm, config);
        assert_eq!(delay, 104, "16 kHz lookahead: 2.5 ms + 4 ms");
        let mut dec = OpusDecoder::new(AudioFormat::PCM16K).unwrap();
        let mut out = Vec::with_capacity(pcm.len());
        for p in &packets {
            out.extend_from_slice(dec.decode(p).unwrap());
        }
        assert_eq!(out.len(), pcm.len());
        // Decoded sample i + delay corresponds to input sample i. Compare over the speech (first 6 s).
        let n = 6 * 16_000;
        let snr = snr_db(&pcm[..n], &out[delay..delay + n]);
        println!("Opus 32 kbit/s 16 kHz complexity {complexity}: SNR {snr:.1} dB");
        assert!(snr >= 15.0, "SNR {snr:.1} dB below 15 dB");
        // The stated delay is the best alignment: one sample off is clearly worse.
        assert!(snr > snr_db(&pcm[..n], &out[delay + 1..delay + 1 + n]) + 1.0);
        assert_eq!(dec.stats().decoded, packets.len() as u64);
    }
}

#[test]
fn plc_fills_a_dropped_voiced_frame_plausibly() {
    let pcm = alice();
    let k = voiced_frame(&pcm);
    for application in [OpusApplication::Audio, OpusApplication::Voip] {
        let config = OpusEncoderConfig {
            application,
            ..OpusEncoderConfig::default()
        };
        plc_case(&pcm, config, k);
    }
}

fn plc_case(pcm: &[i16], config: OpusEncoderConfig, k: usize) {
    let (packets, _) = encode_all(pcm, config);
    let mut dec = OpusDecoder::new(AudioFormat::PCM16K).unwrap();
    let mut frames: Vec<Vec<i16>> = Vec::new();
    for (i, p) in packets.iter().enumerate().take(k + 2) {
        let f = if i == k {
            dec.conceal().unwrap().to_vec()
        } else {
            dec.decode(p).unwrap().to_vec()
        };
        frames.push(f);
    }
    assert_eq!(frames[k].len(), FRAME, "20 ms of concealment");
    let neighbours = (energy(&frames[k - 1]) + energy(&frames[k + 1])) / 2.0;
    let ratio = energy(&frames[k]) / neighbours;
    println!(
        "PLC {:?} frame {k}: energy ratio to neighbours {ratio:.2}",
        config.application
    );
    assert!((0.1..=2.0).contains(&ratio), "PLC energy ratio {ratio:.2}");
    assert_eq!(dec.stats().concealed, 1);
}

#[test]
fn fec_recovers_a_dropped_frame_better_than_plc() {
    let pcm = alice();
    let config = OpusEncoderConfig {
        application: OpusApplication::Voip,
        inband_fec: true,
        packet_loss_percent: 20,
        ..OpusEncoderConfig::default()
    };
    let (packets, delay) = encode_all(&pcm, config);
    let k = voiced_frame(&pcm);
    let run = |use_fec: bool| -> (f64, Concealment) {
        let mut dec = OpusDecoder::new(AudioFormat::PCM16K).unwrap();
        let mut out = Vec::new();
        let mut how = Concealment::Plc;
        for (i, p) in packets.iter().enumerate().take(k + 3) {
            if i == k {
                if use_fec {
                    let (c, f) = dec.recover(&packets[k + 1]).unwrap();
                    how = c;
                    out.extend_from_slice(f);
                } else {
                    out.extend_from_slice(dec.conceal().unwrap());
                }
            } else {
                out.extend_from_slice(dec.decode(p).unwrap());
            }
        }
        let lost = &out[k * FRAME..(k + 1) * FRAME];
        let original = &pcm[k * FRAME - delay..(k + 1) * FRAME - delay];
        (snr_db(original, lost), how)
    };
    let (plc, _) = run(false);
    let (fec, how) = run(true);
    println!("frame {k}: PLC SNR {plc:.1} dB, FEC SNR {fec:.1} dB");
    assert_eq!(how, Concealment::Fec, "packet k+1 carries LBRR data");
    assert!(
        fec > plc + 1.0,
        "FEC {fec:.1} dB not better than PLC {plc:.1} dB"
    );
}

#[test]
fn stereo_48k_round_trip_and_bad_frames() {
    let config = OpusEncoderConfig {
        format: AudioFormat {
            sample_rate: 48_000,
            channels: 2,
        },
        bitrate_bps: 96_000,
        application: OpusApplication::Audio,
        ..OpusEncoderConfig::default()
    };
    let mut enc = OpusEncoder::new(config).unwrap();
    assert_eq!(enc.frame_samples(), 960);
    let mut dec = OpusDecoder::new(config.format).unwrap();
    let frame: Vec<i16> = (0..960 * 2)
        .map(|i| ((i / 2) as f32 * 0.05).sin() as i16 * 4000)
        .collect();
    let mut buf = [0u8; 4000];
    for _ in 0..5 {
        let n = enc.encode_into(&frame, &mut buf).unwrap();
        assert_eq!(dec.decode(&buf[..n]).unwrap().len(), 1920);
    }
    // Not a valid frame length; an empty and an over-long packet.
    assert!(enc.encode(&frame[..1000]).is_err());
    assert!(dec.decode(&[]).is_err());
    assert!(dec.decode(&vec![0xFCu8; 70_000]).is_err());
    // A code-3 packet announcing more frames than it carries.
    assert!(dec.decode(&[0x03, 0x3F]).is_err());
    assert_eq!(dec.stats().errors, 3);
    assert!(OpusEncoder::new(OpusEncoderConfig {
        format: AudioFormat::PCM44K_STEREO,
        ..config
    })
    .is_err());
}
