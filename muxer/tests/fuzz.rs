//! Fuzz-style tests (seeded, a few thousand inputs each): random and mutated bytes into every parser the
//! muxer exposes to files it did not just write. None may panic.

mod common;

use bytes::Bytes;
use media_core::{AudioFormat, MediaTime};
use muxer::fmp4::{boxes, reader, Fragmenter, TrackSpec};
use muxer::integrity::manifest::parse_journal;
use muxer::integrity::Manifest;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ITER: usize = 3000;

fn random_bytes(rng: &mut ChaCha8Rng, max: usize) -> Vec<u8> {
    let n = rng.random_range(0..=max);
    (0..n).map(|_| rng.random::<u8>()).collect()
}

/// Flips, overwrites, inserts, deletes or truncates a few bytes of `valid`.
fn mutate(rng: &mut ChaCha8Rng, valid: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        if b.is_empty() {
            b.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..b.len());
        match rng.random_range(0..6) {
            0 => b[at] ^= 1 << rng.random_range(0..8),
            1 => b[at] = rng.random(),
            2 => b.insert(at, rng.random()),
            3 => {
                b.remove(at);
            }
            4 => b.truncate(at),
            _ => {
                // a big or tiny length in a 4-byte field
                let v: u32 = [0, 1, 7, 8, 16, u32::MAX, rng.random()][rng.random_range(0..7)];
                let end = (at + 4).min(b.len());
                b[at..end].copy_from_slice(&v.to_be_bytes()[..end - at]);
            }
        }
    }
    b
}

#[test]
fn wav_header_recovery_never_panics() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let valid = muxer::wav::header_bytes(AudioFormat::PCM16K, 1000, false);
    let valid64 = muxer::wav::header_bytes(AudioFormat::PCM16K, 1000, true);
    let mut ok = 0;
    for i in 0..ITER {
        let head = match i % 3 {
            0 => random_bytes(&mut rng, 200),
            1 => mutate(&mut rng, &valid),
            _ => mutate(&mut rng, &valid64),
        };
        let len =
            [0u64, 10, 80, 81, 5_000, u32::MAX as u64 + 100, u64::MAX][rng.random_range(0..7)];
        if let Ok(plan) = muxer::wav::plan_wav_recovery(&head, len) {
            assert!(plan.truncate_to <= len);
            assert_eq!(plan.header.len() as u64, plan.data_offset);
            ok += 1;
        }
    }
    assert!(ok > 0, "some mutated headers are still repairable");
}

fn valid_init_and_fragment() -> (Vec<u8>, Vec<u8>) {
    let frames = common::erin_frames();
    let mut f = Fragmenter::new(
        &[TrackSpec::h264(), TrackSpec::opus(1, 312)],
        MediaTime::from_secs(1),
    );
    for (i, fr) in frames[..70].iter().enumerate() {
        f.push(0, fr.pts, fr.annexb.clone()).unwrap();
        f.push(
            1,
            MediaTime::from_millis(20 * i as i64),
            Bytes::from_static(&[0x78, 1, 2, 3]),
        )
        .unwrap();
    }
    let init = boxes::init_segment(&f.init_tracks().unwrap(), Default::default())
        .unwrap()
        .0;
    let frag = f.poll_fragment(None, true).unwrap().unwrap();
    let mut bytes = frag.header.clone();
    for p in &frag.parts {
        bytes.extend_from_slice(p.as_slice());
    }
    (init, bytes)
}

#[test]
fn box_reader_never_panics() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (init, frag) = valid_init_and_fragment();
    assert!(reader::read_init(&init).is_ok());
    assert!(reader::read_fragment(&frag).is_ok());
    // Only the init's and the moof's first bytes matter to the reader: keep the inputs short.
    let frag_head = &frag[..frag.len().min(4096)];
    for i in 0..ITER {
        let b = match i % 3 {
            0 => random_bytes(&mut rng, 300),
            1 => mutate(&mut rng, &init),
            _ => mutate(&mut rng, frag_head),
        };
        let _ = reader::boxes(&b);
        let _ = reader::find_box(&b, &[*b"moov", *b"mvex", *b"mehd"]);
        let _ = reader::read_init(&b);
        let _ = reader::read_fragment(&b);
    }
}

/// The sample reader (`merge` reads legs' videos with it): a valid file reads back every sample with the
/// bytes written; mutated files give an error or samples inside the file, never a panic.
#[test]
fn sample_reader_reads_back_and_never_panics() {
    use muxer::fmp4::samples::{length_prefixed_to_annexb, read_samples};
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (init, frag) = valid_init_and_fragment();
    let file = [init.clone(), frag.clone()].concat();
    let s = read_samples(&file).unwrap();
    let video: Vec<_> = s.samples.iter().filter(|x| x.track_id == 1).collect();
    let audio = s.samples.iter().filter(|x| x.track_id == 2).count();
    assert_eq!((video.len(), audio), (70, 70));
    let frames = common::erin_frames();
    assert!(video[0].sync);
    for (v, fr) in video.iter().zip(&frames[..70]) {
        let annexb = length_prefixed_to_annexb(&file[v.range.clone()]).unwrap();
        // The stored bytes come back as the Annex-B frame that went in (start codes normalised to 4 bytes).
        let nals = |b: &[u8]| {
            media_core::h264::nal_units(b)
                .map(|n| n.bytes().to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(nals(&annexb), nals(&fr.annexb));
    }
    for i in 0..ITER {
        let b = match i % 2 {
            0 => mutate(&mut rng, &file[..file.len().min(6000)]),
            _ => [
                init.clone(),
                mutate(&mut rng, &frag[..frag.len().min(4096)]),
            ]
            .concat(),
        };
        if let Ok(r) = read_samples(&b) {
            for x in &r.samples {
                assert!(x.range.end <= b.len() && x.range.start <= x.range.end);
                let _ = length_prefixed_to_annexb(&b[x.range.clone()]);
            }
        }
    }
}

/// Recover rewrites the init segment it finds on disk: whatever those bytes are, the final header is the same
/// length or an error, never a panic.
#[test]
fn final_header_of_mutated_inits_never_panics_and_keeps_the_length() {
    use muxer::fmp4::index::{final_header, SegmentIndex};
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (init, frag) = valid_init_and_fragment();
    let info = reader::read_fragment(&frag).unwrap();
    let mut ix = SegmentIndex::new(&[(1, 90_000), (2, 48_000)]);
    ix.push(init.len() as u64, frag.len() as u64, &info.tracks);
    let (h, _) = final_header(&init, &ix).unwrap();
    assert_eq!(h.len(), init.len());
    // The boxes before the reserved space are what the rewrite parses.
    let head = reader::boxes(&init).unwrap()[2].offset as usize + 16;
    let mut ok = 0;
    for _ in 0..ITER {
        let mut b = mutate(&mut rng, &init[..head]);
        b.extend_from_slice(&init[head..]);
        if let Ok((h, _)) = final_header(&b, &ix) {
            assert_eq!(h.len(), b.len());
            ok += 1;
        }
    }
    assert!(ok > 0);
}

/// Found by the `fmp4_reader` fuzz target: a 750-byte `moof` whose `trun` claims 7 M samples without
/// per-sample fields. Decoding it built every entry (307 MB, seconds); it is now refused before decoding.
#[test]
fn fragment_claiming_more_samples_than_bytes_is_refused() {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/regressions/fmp4_reader-trun-count.bin"
    ))
    .unwrap();
    match reader::read_fragment(&data) {
        Err(reader::BoxError::TooManySamples { offset, claimed }) => {
            assert_eq!(offset, 0);
            assert_eq!(claimed, 0x006D_0176);
        }
        other => panic!("expected TooManySamples, got {other:?}"),
    }
    // A valid fragment still reads, with the sample durations it was written with.
    let (_, frag) = valid_init_and_fragment();
    let info = reader::read_fragment(&frag).unwrap();
    assert!(info.tracks.iter().all(|&(_, _, dur)| dur > 0));
}

#[test]
fn journal_and_manifest_parsers_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let dir = common::scratch_dir("fuzz-manifest");
    let key = muxer::integrity::generate_signing_key().unwrap();
    let mut rec =
        muxer::RecordingWriter::create(&dir, key, muxer::RecordingOptions::new("f", 0)).unwrap();
    let s = rec.add_wav("a.wav", AudioFormat::PCM16K).unwrap();
    rec.set_status(muxer::Status::Recording, MediaTime::ZERO, "x")
        .unwrap();
    rec.write_pcm(s, &[1; 32_000]).unwrap();
    let journal = std::fs::read(dir.join("manifest.journal")).unwrap();
    rec.finish(muxer::Status::Completed, MediaTime::from_secs(2), "")
        .unwrap();
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    let (lines, used) = parse_journal(&journal);
    assert_eq!((lines.len(), used), (5, journal.len())); // begin, file, header, status, one chunk
    for i in 0..ITER {
        let j = if i % 2 == 0 {
            random_bytes(&mut rng, 400)
        } else {
            mutate(&mut rng, &journal)
        };
        let (lines, used) = parse_journal(&j);
        assert!(used <= j.len() && lines.len() <= j.len());
        let m = if i % 2 == 0 {
            random_bytes(&mut rng, 400)
        } else {
            mutate(&mut rng, &manifest)
        };
        if let Ok(parsed) = Manifest::parse(&m) {
            let _ = parsed.render();
            let _ = Manifest::build(
                &parsed.begin(),
                parsed.entries.clone(),
                parsed.signatures.clone(),
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn annexb_and_sps_parsers_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let frames = common::erin_frames();
    let sps = frames[0].nals[0].clone();
    assert_eq!(sps[0] & 0x1F, 7);
    let mut frag = Fragmenter::new(&[TrackSpec::h264()], MediaTime::from_secs(1));
    let mut parsed = 0;
    for i in 0..ITER {
        let b = match i % 3 {
            0 => random_bytes(&mut rng, 300),
            1 => mutate(&mut rng, &sps),
            _ => mutate(
                &mut rng,
                &frames[i % 30].annexb[..frames[i % 30].annexb.len().min(600)],
            ),
        };
        for n in media_core::h264::nal_units(&b) {
            let r = n.range();
            assert!(r.start < r.end && r.end <= b.len());
        }
        if media_core::h264::parse_sps(&b).is_ok() {
            parsed += 1;
        }
        // The whole video path: whatever comes in is a sample or a typed error.
        let _ = frag.push(0, MediaTime::from_millis(i as i64 * 33), Bytes::from(b));
        let _ = frag.poll_fragment(None, false);
    }
    assert!(parsed > 0);
}

#[test]
fn time_stamp_and_keyring_parsers_never_panic() {
    use muxer::integrity::timestamp::{
        request_der, request_imprint, token_from_response, verify_token,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    // A valid request, a refused response and the committed fixture's token-bearing manifest as seeds.
    let req = request_der(&[3; 32], 77);
    let manifest = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/format/v2/timestamped/manifest.json"),
    )
    .unwrap();
    let cert = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/format/v2/tsa.crt"),
    )
    .unwrap();
    let m = muxer::integrity::Manifest::parse(&manifest).unwrap();
    let token = m
        .entries
        .iter()
        .find_map(|e| match e {
            muxer::integrity::Entry::Timestamp { token, .. } => Some(token.0.clone()),
            _ => None,
        })
        .unwrap();
    for i in 0..3_000 {
        let input = match i % 3 {
            0 => random_bytes(&mut rng, 600),
            1 => mutate(&mut rng, &req),
            _ => mutate(&mut rng, &token),
        };
        let _ = request_imprint(&input);
        let _ = token_from_response(&input);
        // No input verifies for a checkpoint its TSA never stamped.
        if verify_token(&input, &cert, &[0; 32]).is_ok() {
            panic!("a token for another imprint verified");
        }
        let text = String::from_utf8_lossy(&input);
        let _ = muxer::integrity::Keyring::parse(&format!("verbatim-keyring-v1\n{text}"));
    }
}
