//! H.264 passthrough into fragmented MP4 (`media_core::h264` + the fMP4 fragmenter): Teams H.264 frames go
//! into the recording without decoding, so the Annex-B splitter and SPS reader the muxer uses (to build `avcC`)
//! see every outside byte. Whatever comes in is a sample or a typed error; what comes out must be a fragment
//! our own box reader accepts.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use media_core::MediaTime;
use muxer::fmp4::{boxes, reader, Fragmenter, TrackSpec};

// Input: frames separated by the marker `FRAME` (so seeds can be real Annex-B frames); every frame is also
// given to the splitter and the SPS reader alone.
fuzz_target!(|data: &[u8]| {
    let mut prev_end = 0;
    for n in media_core::h264::nal_units(data) {
        let r = n.range();
        assert!(r.start < r.end && r.end <= data.len() && r.start >= prev_end);
        prev_end = r.end;
        let _ = media_core::h264::parse_sps(&data[r]);
    }
    let _ = media_core::h264::parse_sps(data);

    let mut f = Fragmenter::new(
        &[TrackSpec::h264(), TrackSpec::opus(1, 312)],
        MediaTime::from_millis(200),
    );
    let mut pts = 0i64;
    let mut fragments = 0;
    for (i, frame) in split(data, b"FRAME").enumerate() {
        // Times step forward irregularly, as Teams' variable frame rate does; the first byte sets the step.
        pts += 10 + i64::from(frame.first().copied().unwrap_or(0)) * 3;
        let _ = f.push(
            0,
            MediaTime::from_millis(pts),
            Bytes::copy_from_slice(frame),
        );
        let _ = f.push(
            1,
            MediaTime::from_millis(20 * i as i64),
            Bytes::from_static(&[0x78, 1, 2, 3]),
        );
        check(
            &mut f,
            Some(MediaTime::from_millis(pts)),
            false,
            &mut fragments,
        );
    }
    check(&mut f, None, true, &mut fragments);
});

fn check(f: &mut Fragmenter, now: Option<MediaTime>, finish: bool, fragments: &mut u32) {
    loop {
        let bytes = match f.poll_fragment(now, finish) {
            Ok(Some(frag)) => {
                let mut b = frag.header.clone();
                for p in &frag.parts {
                    b.extend_from_slice(p.as_slice());
                }
                b
            }
            Ok(None) | Err(_) => break,
        };
        *fragments += 1;
        if let Err(e) = reader::read_fragment(&bytes) {
            panic!("our own fragment is unreadable: {e:?}");
        }
        if *fragments == 1 {
            let tracks = f
                .init_tracks()
                .expect("a fragment was cut, so every track is configured");
            let (init, _) = boxes::init_segment(&tracks, Default::default()).expect("init segment");
            reader::read_init(&init).expect("our own init segment must be readable");
        }
        if *fragments > 10_000 {
            break;
        }
    }
}

fn split<'a>(data: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(sep.len()).position(|w| w == sep) {
            Some(p) => {
                rest = Some(&r[p + sep.len()..]);
                Some(&r[..p])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}
