//! Measures the Opus encoder modes on the four sample participants mixed: CPU per second of audio and the
//! waveform SNR after a decode (docs/codecs.md has the table). `cargo run --release -p codecs --example opus_probe`
//! (reads testdata/media/{alice,bob,carol,dave}.flac, or the same names in the folder `VERBATIM_MEDIA`).
use opus::{Application, Bitrate, Channels, Decoder, Encoder, Signal};
use std::time::Instant;
fn main() {
    let media = std::env::var("VERBATIM_MEDIA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/media").into());
    let mut mix: Vec<i32> = Vec::new();
    for n in ["alice", "bob", "carol", "dave"] {
        let path = format!("{media}/{n}.flac");
        let s = bot_adapter::sim::load_audio_file(&path).unwrap_or_else(|e| panic!("{e}"));
        if mix.len() < s.len() {
            mix.resize(s.len(), 0);
        }
        for (m, x) in mix.iter_mut().zip(s) {
            *m += x as i32;
        }
    }
    let pcm: Vec<i16> = mix.iter().map(|&x| x.clamp(-32768, 32767) as i16).collect();
    let secs = pcm.len() as f64 / 16000.0;
    for app in [Application::Audio, Application::Voip, Application::LowDelay] {
        for cx in [0, 1, 3] {
            for fs in [320usize, 640, 960] {
                let mut e = Encoder::new(16000, Channels::Mono, app).unwrap();
                e.set_bitrate(Bitrate::Bits(32000)).unwrap();
                e.set_complexity(cx).unwrap();
                if app != Application::LowDelay {
                    e.set_signal(Signal::Voice).unwrap();
                }
                let mut d = Decoder::new(16000, Channels::Mono).unwrap();
                let mut out = vec![0i16; pcm.len() + 2000];
                let mut buf = [0u8; 4000];
                let mut o = 0;
                let t = Instant::now();
                let mut pk = Vec::new();
                for f in pcm.chunks_exact(fs) {
                    let n = e.encode(f, &mut buf).unwrap();
                    pk.push(buf[..n].to_vec());
                }
                let enc = t.elapsed().as_secs_f64();
                for p in &pk {
                    o += d.decode(p, &mut out[o..], false).unwrap();
                }
                let delay = e.get_lookahead().unwrap() as usize;
                let (mut sig, mut err) = (0f64, 0f64);
                for i in 0..(o - delay) {
                    let a = pcm[i] as f64;
                    let b = out[i + delay] as f64;
                    sig += a * a;
                    err += (a - b) * (a - b);
                }
                println!(
                    "{app:?} cx{cx} {:>2}ms: {:.3} ms encode time per s of audio (wall clock; run on a quiet machine)  SNR {:.1} dB",
                    fs / 16,
                    enc / secs * 1000.0,
                    10.0 * (sig / err).log10()
                );
            }
        }
    }
}
