//! A participant who joins an hour into a call brings an hour of silence (their lead-in): it is journaled
//! in second-long chunks as any audio, but the file is extended, its header refreshed and the chunks linked
//! once, not once per second — an hour's lead-in used to cost 3,600 `ftruncate`s and header writes on the
//! writer thread at one go, a stall for every other call on it.

mod common;

use std::sync::Arc;

use common::scratch_dir;
use media_core::{AudioFormat, MediaTime};
use muxer::integrity::{Entry, Manifest};
use muxer::storage::{Op, OpLog};
use muxer::verify::verify_dir;
use muxer::{RecordingOptions, RecordingWriter, Status};

#[test]
fn an_hour_of_lead_in_is_linked_in_second_long_chunks_with_one_extension_and_one_header_write() {
    let dir = scratch_dir("lead-in");
    let key = muxer::integrity::generate_signing_key().unwrap();
    let log = OpLog::new();
    let mut rec = RecordingWriter::create_on(
        Arc::new(log.clone()),
        &dir,
        key.clone(),
        RecordingOptions::new("lead-in", 0),
    )
    .unwrap();
    let stem = rec
        .add_wav("participants/late.wav", AudioFormat::PCM16K)
        .unwrap();
    let before = log.ops().len();
    rec.write_silence(stem, 3_600 * 16_000 + 123).unwrap();
    let ops: Vec<Op> = log.ops()[before..].to_vec();
    let on_stem = |o: &Op| match o {
        Op::SetLen { path, .. } | Op::Write { path, .. } => path.ends_with("late.wav"),
        _ => false,
    };
    let set_lens = ops
        .iter()
        .filter(|o| on_stem(o) && matches!(o, Op::SetLen { .. }))
        .count();
    let header_writes = ops
        .iter()
        .filter(|o| on_stem(o) && matches!(o, Op::Write { offset: 0, .. }))
        .count();
    assert_eq!(
        (set_lens, header_writes),
        (1, 1),
        "{} operations",
        ops.len()
    );
    rec.write_pcm(stem, &[5; 320]).unwrap();
    rec.finish(Status::Completed, MediaTime::from_secs(3_601), "")
        .unwrap();
    // The chunks are as long as ever (the journal's loss bound is a chunk): 3,600 of a second, then the rest.
    let m = Manifest::parse(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let id = m.entries.iter().find_map(|e| match e {
        Entry::File { file, path, .. } if path == "participants/late.wav" => Some(*file),
        _ => None,
    });
    let lens: Vec<u64> = m
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Data { file, len, .. } if Some(*file) == id => Some(*len),
            _ => None,
        })
        .collect();
    assert_eq!(
        lens.len(),
        3_601,
        "{:?}",
        &lens[lens.len().saturating_sub(3)..]
    );
    assert!(lens[..3_600].iter().all(|&l| l == 32_000));
    assert_eq!(lens[3_600], 2 * (123 + 320));
    let file = std::fs::read(dir.join("participants/late.wav")).unwrap();
    assert_eq!(file.len() as u64, 80 + 2 * (3_600 * 16_000 + 123 + 320));
    assert!(file[80..file.len() - 640].iter().all(|&b| b == 0));
    verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
