//! The node's group commit (`muxer::group_commit`): tickets, failed rounds, and a recording that keeps its
//! signatures honest when a round fails.

mod common;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::scratch_dir;
use common::workload::{record_on_with, Inputs};
use muxer::group_commit::{Durability, GroupCommit, GroupCommitOptions};
use muxer::integrity::generate_signing_key;
use muxer::storage::{StdStorage, Storage, StorageFile};
use muxer::verify::verify_dir;

/// The real file system, whose `syncfs` fails while `fail` is set (as a write-back error would make it).
#[derive(Default)]
struct FlakySync {
    fail: AtomicBool,
    calls: AtomicU64,
}

impl Storage for FlakySync {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdStorage.create_dir_all(dir)
    }
    fn create_new(&self, path: &Path, append: bool) -> io::Result<Box<dyn StorageFile>> {
        StdStorage.create_new(path, append)
    }
    fn open_write(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        StdStorage.open_write(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdStorage.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdStorage.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdStorage.sync_dir(dir)
    }
    fn sync_fs(&self, dir: &Path) -> io::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(5));
        }
        StdStorage.sync_fs(dir)
    }
}

fn quick() -> GroupCommitOptions {
    GroupCommitOptions {
        min_gap: Duration::ZERO,
    }
}

#[test]
fn tickets_become_durable_and_a_failed_round_fails_only_its_own() {
    let dir = scratch_dir("gc-tickets");
    let fs = Arc::new(FlakySync::default());
    let gc = GroupCommit::start(fs.clone(), &dir, quick()).unwrap();
    let h = gc.handle();
    let a = h.request();
    assert_eq!(h.wait(a), Durability::Durable);
    fs.fail.store(true, Ordering::SeqCst);
    let b = h.request();
    assert_eq!(h.wait(b), Durability::Failed);
    // The earlier ticket stays durable; a ticket after the disk recovers is durable again.
    assert_eq!(h.poll(a), Durability::Durable);
    fs.fail.store(false, Ordering::SeqCst);
    let c = h.request();
    assert_eq!(h.wait(c), Durability::Durable);
    assert_eq!(h.poll(b), Durability::Failed);
    let stats = gc.stats();
    assert_eq!((stats.requests, stats.failed_rounds), (3, 1), "{stats:?}");
    assert!(stats.rounds >= 3 && stats.rounds <= 4, "{stats:?}");
    // One syncfs at start (the volume check), one per round.
    assert_eq!(fs.calls.load(Ordering::SeqCst), 1 + stats.rounds);
    // After the thread stops, a ticket fails at once (its writer syncs on its own) instead of hanging.
    drop(gc);
    let d = h.request();
    assert_eq!(h.wait(d), Durability::Failed);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn many_writers_share_few_rounds() {
    let dir = scratch_dir("gc-share");
    let fs = Arc::new(FlakySync::default());
    let options = GroupCommitOptions {
        min_gap: Duration::from_millis(20),
    };
    let gc = GroupCommit::start(fs.clone(), &dir, options).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let h = gc.handle();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    assert_eq!(h.wait(h.request()), Durability::Durable);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = gc.stats();
    assert_eq!(stats.requests, 200);
    // Eight writers asking 25 times each, one round at a time: rounds are shared, far fewer than requests.
    assert!(stats.rounds < 120, "{stats:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_recording_whose_rounds_fail_syncs_its_own_files_and_still_verifies() {
    let base = scratch_dir("gc-failing");
    let fs = Arc::new(FlakySync::default());
    let gc = GroupCommit::start(fs.clone(), &base, quick()).unwrap();
    fs.fail.store(true, Ordering::SeqCst);
    let key = generate_signing_key().unwrap();
    let inputs = Inputs::load(4);
    let dir = base.join("rec");
    let out = record_on_with(fs.clone(), &dir, &key, &inputs, Some(gc.handle()));
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert!(gc.stats().failed_rounds >= 3, "{:?}", gc.stats());
    let report = verify_dir(&dir, Some(&key.verifying_key())).unwrap();
    assert!(report.summary.contains("intact"), "{}", report.summary);
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn signatures_nobody_takes_for_time_stamping_stay_bounded() {
    use media_core::{AudioFormat, MediaTime};
    use muxer::{RecordingOptions, RecordingWriter, Status};
    let dir = scratch_dir("gc-checkpoints");
    let key = generate_signing_key().unwrap();
    let mut rec =
        RecordingWriter::create(&dir.join("rec"), key, RecordingOptions::new("c", 0)).unwrap();
    rec.set_status(Status::Recording, MediaTime::ZERO, "")
        .unwrap();
    let a = rec.add_wav("a.wav", AudioFormat::PCM16K).unwrap();
    // 100 signatures (a long call signs every few seconds) and no time-stamping authority taking them.
    for i in 1..=100 {
        rec.write_pcm(a, &[1i16; 16_000]).unwrap();
        rec.tick(MediaTime::from_secs(i)).unwrap();
        rec.sign(MediaTime::from_secs(i)).unwrap();
    }
    let mut kept = 0;
    while rec.take_checkpoint().is_some() {
        kept += 1;
    }
    assert_eq!(kept, 8, "the newest 8 are kept");
    rec.finish(Status::Completed, MediaTime::from_secs(100), "")
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
