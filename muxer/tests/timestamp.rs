//! RFC 3161 time-stamps of signature checkpoints against a real TSA on loopback (`openssl ts -reply`).

mod common;
#[path = "common/tsa.rs"]
mod tsa;

use std::time::Duration;

use common::scratch_dir;
use media_core::{AudioFormat, MediaTime};
use muxer::integrity::generate_signing_key;
use muxer::integrity::timestamp::{request_token, verify_token, TimestampError};
use muxer::verify::{verify_dir_opts, Trust, VerifyError, VerifyOptions};
use muxer::{RecordingOptions, RecordingWriter, Status};

#[test]
fn every_checkpoint_is_time_stamped_and_verify_checks_the_tokens() {
    let dir = scratch_dir("tsa-rec");
    let tsa_dir = scratch_dir("tsa-identity");
    let tsa = tsa::Tsa::start(&tsa_dir);
    let key = generate_signing_key().unwrap();
    let mut opts = RecordingOptions::new("stamped", 1_764_000_000_000);
    opts.sign_interval = MediaTime::from_secs(1);
    let mut rec = RecordingWriter::create(&dir, key.clone(), opts).unwrap();
    rec.set_status(Status::Recording, MediaTime::ZERO, "")
        .unwrap();
    let a = rec.add_wav("a.wav", AudioFormat::PCM16K).unwrap();
    let mut stamped = Vec::new();
    for slot in 0..200 {
        let now = MediaTime::from_millis(20 * slot);
        rec.write_pcm(a, &[slot as i16; 320]).unwrap();
        rec.tick(now).unwrap();
        if let Some((n, imprint)) = rec.take_checkpoint() {
            let token = request_token(&tsa.url, &imprint, Duration::from_secs(10)).unwrap();
            // The token checks out against the TSA's certificate, for this imprint only.
            let cert = std::fs::read(&tsa.cert).unwrap();
            verify_token(&token, &cert, &imprint).unwrap();
            assert!(matches!(
                verify_token(&token, &cert, &[0; 32]),
                Err(TimestampError::WrongImprint)
            ));
            rec.add_timestamp(n, token).unwrap();
            stamped.push(n);
        }
    }
    rec.finish(Status::Completed, MediaTime::from_secs(4), "")
        .unwrap();
    assert!(stamped.len() >= 3, "checkpoints stamped: {stamped:?}");
    assert_eq!(
        tsa.answered.load(std::sync::atomic::Ordering::SeqCst),
        stamped.len()
    );

    let cert = std::fs::read(&tsa.cert).unwrap();
    let pk = key.verifying_key();
    let v = verify_dir_opts(
        &dir,
        &VerifyOptions {
            trust: Trust::Key(&pk),
            tsa_cert: Some(&cert),
        },
    )
    .unwrap();
    assert_eq!(
        v.timestamps.iter().map(|t| t.0).collect::<Vec<_>>(),
        stamped
    );
    assert!(v
        .timestamps
        .iter()
        .all(|t| t.1.as_deref().is_some_and(|s| s.ends_with('Z'))));
    assert!(
        v.summary.contains("RFC 3161 time-stamps valid"),
        "{}",
        v.summary
    );
    // Without the TSA certificate they are listed, not checked.
    let v = verify_dir_opts(
        &dir,
        &VerifyOptions {
            trust: Trust::Key(&pk),
            tsa_cert: None,
        },
    )
    .unwrap();
    assert!(v.summary.contains("NOT checked"), "{}", v.summary);
    // Another TSA's certificate: the tokens are refused.
    let other_dir = scratch_dir("tsa-other");
    let other = tsa::make_tsa_identity(&other_dir);
    let other = std::fs::read(other).unwrap();
    let e = verify_dir_opts(
        &dir,
        &VerifyOptions {
            trust: Trust::Key(&pk),
            tsa_cert: Some(&other),
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::Timestamp {
                source: TimestampError::BadSignature(_),
                ..
            }
        ),
        "{e}"
    );
    drop(tsa);
    for d in [dir, tsa_dir, other_dir] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn a_tsa_that_is_down_fails_fast_with_a_clear_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tsr", l.local_addr().unwrap());
    drop(l);
    let t = std::time::Instant::now();
    let e = request_token(&url, &[1; 32], Duration::from_secs(2)).unwrap_err();
    assert!(matches!(e, TimestampError::Http { .. }), "{e}");
    assert!(e.to_string().contains(&url), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3));
}
