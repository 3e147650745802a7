//! Opus packet decode with loss concealment and FEC (`codecs::opus::OpusDecoder`): packets come from the
//! network (Opus inputs) or from `.opus` files. The input is a format byte then records
//! `[op, len, bytes...]`: op % 4 = 0/1 decode, 2 conceal (PLC), 3 recover from the next packet (FEC or PLC).
#![no_main]

use codecs::opus::OpusDecoder;
use libfuzzer_sys::fuzz_target;
use media_core::AudioFormat;

fuzz_target!(|data: &[u8]| {
    let Some((&fmt, mut rest)) = data.split_first() else {
        return;
    };
    let rates = [8_000u32, 12_000, 16_000, 24_000, 48_000];
    let format = AudioFormat {
        sample_rate: rates[usize::from(fmt % 5)],
        channels: 1 + u16::from((fmt / 5) % 2),
    };
    let Ok(mut dec) = OpusDecoder::new(format) else {
        return;
    };
    let ch = usize::from(format.channels);
    // 120 ms is the longest Opus packet.
    let max = format.sample_rate as usize * 120 / 1000 * ch;
    let mut ops = 0u64;
    while rest.len() >= 2 && ops < 2000 {
        let op = rest[0];
        let len = usize::from(rest[1]).min(rest.len() - 2);
        let packet = &rest[2..2 + len];
        rest = &rest[2 + len..];
        ops += 1;
        let out_len = match op % 4 {
            0 | 1 => dec.decode(packet).map(<[i16]>::len),
            2 => dec.conceal().map(<[i16]>::len),
            _ => dec.recover(packet).map(|(_, pcm)| pcm.len()),
        };
        if let Ok(n) = out_len {
            assert!(
                n % ch == 0 && n <= max,
                "{n} samples out of a {ch}-channel packet"
            );
        }
    }
    let s = dec.stats();
    assert!(
        s.decoded + s.errors + s.concealed + s.fec_recovered <= 2 * ops + 1,
        "{s:?} after {ops} ops"
    );
});
