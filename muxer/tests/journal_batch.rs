//! The journal gathered per batch (`RecordingWriter::batch_journal`): the same records, the same chain and the
//! same folder as one line per `write(2)`, in fewer writes; and nothing gathered is left behind at a sync.

mod common;

use std::sync::Arc;

use common::scratch_dir;
use media_core::{AudioFormat, MediaTime};
use muxer::storage::{Op, OpLog};
use muxer::verify::verify_dir;
use muxer::{RecordingOptions, RecordingWriter, Status};

/// Three stems of a second each per tick batch, written `seconds` times; a sync every second. Returns the
/// chain head, the record count and the journal writes made while recording (the close excluded).
fn record(
    key: &ed25519_dalek::SigningKey,
    batched: bool,
    seconds: usize,
    name: &str,
) -> (String, u64, usize) {
    let dir = scratch_dir(name);
    let log = OpLog::new();
    let mut opts = RecordingOptions::new("batch", 1_764_000_000_000);
    opts.sign_interval = MediaTime::from_secs(2);
    let mut rec =
        RecordingWriter::create_on(Arc::new(log.clone()), &dir, key.clone(), opts).unwrap();
    if batched {
        rec.batch_journal();
    }
    let stems: Vec<_> = (0..3)
        .map(|i| {
            rec.add_wav(&format!("participants/p{i}.wav"), AudioFormat::PCM16K)
                .unwrap()
        })
        .collect();
    for s in 0..seconds {
        for (i, &stem) in stems.iter().enumerate() {
            // p2 is silent: its chunks are holes, linked all the same.
            let v = if i == 2 { 0 } else { (s * 3 + i) as i16 + 1 };
            rec.write_pcm(stem, &vec![v; 16_000]).unwrap();
        }
        // A batch ends (the writer thread's pass): what it made goes out in one write.
        rec.flush_journal().unwrap();
        rec.tick(MediaTime::from_secs(s as i64 + 1)).unwrap();
    }
    let journal_writes = log
        .ops()
        .iter()
        .filter(|o| matches!(o, Op::Write { path, .. } if path.to_string_lossy().contains("manifest.journal")))
        .count();
    let summary = rec
        .finish(
            Status::Completed,
            MediaTime::from_secs(seconds as i64),
            "end",
        )
        .unwrap();
    assert!(
        summary.close_errors.is_empty(),
        "{:?}",
        summary.close_errors
    );
    verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (summary.chain_head, summary.entry_count, journal_writes)
}

#[test]
fn a_batched_journal_makes_the_same_chain_in_fewer_writes() {
    let key = muxer::integrity::generate_signing_key().unwrap();
    let (head, count, writes) = record(&key, false, 6, "journal-plain");
    let (head_b, count_b, writes_b) = record(&key, true, 6, "journal-batched");
    println!("{count} records: {writes} journal writes one line at a time, {writes_b} batched");
    assert_eq!(
        (head_b, count_b),
        (head, count),
        "the same records, in the same order"
    );
    // Plain: a line per record (three chunks a second, the signatures); batched: one write per batch and
    // the signatures' lines.
    assert!(writes >= 6 * 3, "{writes} writes unbatched");
    assert!(
        writes_b * 2 <= writes,
        "{writes_b} batched writes against {writes}"
    );
}
