//! Injected write/fsync errors at every write site of the recording folder writer: for each kind of fault
//! (a disk that fills up, a transient EIO, a file system turning read-only) the Nth storage operation fails,
//! for N = 1, 2, … until a recording completes without meeting the fault. Every run must end in a clear error
//! (naming a file of the folder and the OS cause) and leave a folder that verifies with the public key, or
//! that `recover` closes into one that does.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::scratch_dir;
use common::workload::{record_on, Inputs, Outcome};
use ed25519_dalek::SigningKey;
use muxer::integrity::generate_signing_key;
use muxer::recover::recover_dir;
use muxer::storage::{FaultPlan, FaultStorage};
use muxer::verify::verify_dir;
use muxer::Status;

/// Checks one run; returns false once the fault was never met (the loop is done).
fn check_run(plan: FaultPlan, dir: &Path, key: &SigningKey, inputs: &Inputs) -> bool {
    let _ = std::fs::remove_dir_all(dir);
    let fs = FaultStorage::new(plan);
    let out: Outcome = record_on(Arc::new(fs.clone()), dir, key, inputs);
    let at = plan.at;
    if fs.injected() == 0 {
        // The fault came after the last operation: a clean recording.
        let s = out.finish.unwrap().expect("no fault, the close works");
        assert_eq!(s.final_status, Status::Completed);
        verify_dir(dir, Some(&key.verifying_key())).unwrap();
        return false;
    }
    let errors = out.errors();
    let pk = key.verifying_key();
    if errors.is_empty() {
        // Only an operation whose failure costs nothing may fail unreported (freeing part of the room kept
        // for the close): the recording must then be complete and intact.
        let s = out.finish.unwrap().expect("no error reported");
        assert_eq!(s.final_status, Status::Completed, "{plan:?}");
        verify_dir(dir, Some(&pk))
            .unwrap_or_else(|e| panic!("{plan:?}: fault at {at} unreported, folder broken: {e}"));
        return true;
    }
    let cause = std::io::Error::from_raw_os_error(plan.errno).to_string();
    let dir_text = dir.display().to_string();
    let first = &errors[0];
    assert!(
        first.contains(&dir_text) && first.contains(&cause),
        "{plan:?}: the first error must name a file of the folder and the cause ({cause}): {first}"
    );
    if let Some(e) = &out.create_error {
        // Nothing was recorded: no half-made journal stays (unless the storage could not even remove it).
        let journal = dir.join("manifest.journal");
        assert!(
            !journal.exists() || plan.sticky,
            "{plan:?}: create failed ({e}) and left a journal"
        );
        assert!(!dir.join("manifest.json").exists());
        return true;
    }
    let failed_while_recording = out.first_error.is_some();
    match out.finish.unwrap() {
        Ok(s) => {
            if failed_while_recording {
                assert_eq!(
                    s.final_status,
                    Status::Failed,
                    "{plan:?}: a recording that met an error closes as failed ({errors:?})"
                );
            }
            let r = verify_dir(dir, Some(&pk)).unwrap_or_else(|e| {
                let m = std::fs::read_to_string(dir.join("manifest.json")).unwrap_or_default();
                panic!("{plan:?}: closed folder does not verify: {e}\nerrors: {errors:?}\n{m}")
            });
            assert_eq!(r.final_status, s.final_status);
        }
        Err(e) => {
            // The close itself could not finish (the manifest could not be written, or the journal not
            // removed after it): recover, with the storage working again, closes it.
            let r = recover_dir(dir, key)
                .unwrap_or_else(|re| panic!("{plan:?}: finish failed ({e}), recover too: {re}"));
            assert!(r.verify.summary.contains("intact"), "{}", r.verify.summary);
            verify_dir(dir, Some(&pk)).unwrap();
        }
    }
    true
}

fn every_site(make: fn(u64) -> FaultPlan, name: &str) -> u64 {
    let key = generate_signing_key().unwrap();
    let inputs = Inputs::load(3);
    let dir = scratch_dir(&format!("faults-{name}"));
    let mut n = 1;
    while check_run(make(n), &dir.join("rec"), &key, &inputs) {
        n += 1;
        assert!(n < 5_000, "the recording never got past the faults");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!("{name}: a fault at each of the {} operations of a 3 s recording: every run ended in a clear error and a verifiable folder", n - 1);
    n - 1
}

#[test]
fn disk_full_at_every_operation_closes_failed_or_recovers() {
    assert!(every_site(FaultPlan::disk_full_at, "enospc") > 50);
}

#[test]
fn a_transient_eio_at_every_operation_closes_failed_or_recovers() {
    assert!(every_site(FaultPlan::eio_at, "eio") > 50);
}

#[test]
fn read_only_at_every_operation_closes_failed_or_recovers() {
    assert!(every_site(FaultPlan::read_only_at, "erofs") > 50);
}

/// A folder removed while recording: open files would take writes into deleted files for ever; the writer
/// notices at the next sync (within a second of recording) and says so.
#[test]
fn a_folder_removed_while_recording_is_noticed_at_the_next_sync() {
    use media_core::{AudioFormat, MediaTime};
    use muxer::{RecordingError, RecordingWriter};
    let key = generate_signing_key().unwrap();
    let base = scratch_dir("faults-vanished");
    let dir = base.join("rec");
    let mut rec = RecordingWriter::create(&dir, key, common::workload::options()).unwrap();
    let stem = rec
        .add_wav("participants/alice.wav", AudioFormat::PCM16K)
        .unwrap();
    let mut failed_at = None;
    for slot in 0..250i64 {
        let now = MediaTime::from_millis(20 * (slot + 1));
        if slot == 60 {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let r = rec
            .write_pcm(stem, &[0i16; 320])
            .and_then(|_| rec.tick(now));
        if let Err(e) = r {
            assert!(matches!(e, RecordingError::FolderVanished(_)), "{e}");
            assert!(e.to_string().contains(&*dir.to_string_lossy()), "{e}");
            failed_at = Some(now);
            break;
        }
    }
    let at = failed_at.expect("the vanished folder is reported");
    assert!(
        at <= MediaTime::from_millis(20 * 61 + 1000),
        "noticed at {at:?}, more than a second after the removal"
    );
    let closed = rec.finish(Status::Failed, at, "folder vanished");
    assert!(
        closed.is_err(),
        "nothing can be closed in a folder that is gone"
    );
    std::fs::remove_dir_all(&base).unwrap();
}
