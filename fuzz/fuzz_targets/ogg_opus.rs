//! The Ogg Opus reader (`codecs::ogg_opus`): an `.opus` file from outside, demuxed by symphonia, decoded by
//! libopus, pre-skip and end trim applied by our code.
#![no_main]

use codecs::ogg_opus::{parse_opus_head, OggOpusReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_opus_head(data);
    let Ok(mut r) = OggOpusReader::from_bytes(data.to_vec()) else {
        return;
    };
    let ch = usize::from(r.format().channels.max(1));
    let mut total = 0usize;
    for _ in 0..20_000 {
        match r.next_pcm() {
            Ok(Some(pcm)) => {
                assert_eq!(pcm.len() % ch, 0);
                total += pcm.len();
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = (total, r.head(), r.stats());
});
