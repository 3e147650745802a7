//! What the recording page shows besides the player: the verification verdict, the speaker timeline and
//! waveform peaks per stem (computed once, kept under `.console/peaks/`).

use std::path::Path;

use muxer::verify::{verify_dir_opts, Trust, Trusted, VerifyOptions};

use crate::{sha256_hex, Console, ConsoleError};

/// The verification verdict of a folder, in words for the page and the evidence bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// Every byte matches the signed chain.
    pub intact: bool,
    /// Verification ran on this host. False when the recording is not here (another node holds it) or could
    /// not be read back from the object store: then nothing is claimed about its integrity either way.
    pub checked: bool,
    /// The signer is authenticated (a key of the console's keyring); false when only the embedded key was
    /// checked, or when the folder is not intact.
    pub signer_trusted: bool,
    /// One line (verify's summary, or why it failed).
    pub summary: String,
    /// How it was signed: live, or partly sealed at recovery, and by which key.
    pub signing: String,
    /// The signer's key id (`ed25519:…`), when intact.
    pub key_id: String,
    /// The signer's public key (hex), when intact.
    pub public_key: String,
}

impl Verdict {
    /// The verdict on a recording of the object store that could not be replayed from it (the store did
    /// not answer, or its object log is broken: a missing or replaced segment): not verified, and why.
    ///
    /// ```
    /// let v = console::Verdict::not_replayed("the object log is broken: seg/00000002.vseg is missing");
    /// assert!(!v.intact && v.summary.starts_with("NOT VERIFIED"));
    /// assert!(v.summary.contains("is missing"));
    /// ```
    pub fn not_replayed(why: &str) -> Verdict {
        Verdict {
            intact: false,
            checked: false,
            signer_trusted: false,
            summary: format!(
                "NOT VERIFIED: the recording could not be read back from the object store: {why}"
            ),
            signing: String::new(),
            key_id: String::new(),
            public_key: String::new(),
        }
    }

    /// The verdict on a catalogued recording whose folder is not under this console's `root`: nothing was
    /// verified, and nothing is claimed about its integrity. `node`: the node the catalogue says holds it.
    ///
    /// ```
    /// let v = console::Verdict::not_on_this_host(std::path::Path::new("/srv/a"), Some("rec-02"));
    /// assert!(!v.intact && v.summary.starts_with("NOT ON THIS HOST"));
    /// assert!(v.summary.contains("/srv/a") && v.summary.contains("node rec-02"));
    /// assert!(!v.summary.contains("DOES NOT VERIFY"));
    /// ```
    pub fn not_on_this_host(root: &Path, node: Option<&str>) -> Verdict {
        let holder = match node {
            Some(n) => format!("the catalogue says node {n} holds it: review and verify it on that node's console"),
            None => "with a shared catalogue another node holds it: review and verify it on that node's console"
                .to_string(),
        };
        Verdict {
            intact: false,
            checked: false,
            signer_trusted: false,
            summary: format!(
                "NOT ON THIS HOST: the catalogue lists this recording, but its folder is not under this \
                 console's root ({}); {holder}. Nothing was verified here.",
                root.display()
            ),
            signing: String::new(),
            key_id: String::new(),
            public_key: String::new(),
        }
    }
}

/// Verifies a folder as `verbatim verify` would (with the console's keyring when it has one).
pub fn verdict_of(console: &Console, dir: &Path) -> Verdict {
    let trust = console.keyring().map_or(Trust::EmbeddedKey, Trust::Keyring);
    match verify_dir_opts(
        dir,
        &VerifyOptions {
            trust,
            tsa_cert: None,
        },
    ) {
        Ok(r) => {
            let signing = match &r.recovery {
                None => format!("signed live while recording by {}", r.key_id),
                Some(rec) => format!(
                    "{} records signed live; {} sealed at recovery on {} by {}{}",
                    rec.live_entries,
                    rec.sealed_entries,
                    catalog::format_utc(rec.utc_ms.saturating_mul(1000)),
                    rec.key_id,
                    if rec.accepted_tampering.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; ALTERED, ACCEPTED AT RECOVERY: {}",
                            rec.accepted_tampering.join("; ")
                        )
                    }
                ),
            };
            let (signer_trusted, trust_text) = match &r.trusted {
                Trusted::GivenKey => (true, "the signer is the key given".to_string()),
                Trusted::Keyring(label) => (true, format!("the signer is in the keyring ({label})")),
                Trusted::EmbeddedOnly => (
                    false,
                    "the signer is NOT authenticated (no keyring given to the console: only the embedded key was checked)"
                        .to_string(),
                ),
            };
            Verdict {
                intact: true,
                checked: true,
                signer_trusted,
                summary: format!("{}; {trust_text}", r.summary),
                signing,
                key_id: r.key_id,
                public_key: r.public_key,
            }
        }
        Err(e) => Verdict {
            intact: false,
            checked: true,
            signer_trusted: false,
            summary: format!("DOES NOT VERIFY: {e}"),
            signing: String::new(),
            key_id: String::new(),
            public_key: String::new(),
        },
    }
}

/// A stem's waveform as SVG, drawn from its peaks ([`stem_peaks_json`]) so it lines up under the timeline
/// (the same [`timeline_svg::SvgOptions`]).
///
/// # Errors
/// As [`stem_peaks_json`].
pub fn stem_waveform_svg(
    console: &Console,
    dir: &Path,
    id: &str,
    stem: &str,
    duration_us: i64,
) -> Result<String, ConsoleError> {
    let peaks = stem_peaks(console, dir, id, stem)?;
    let opts = timeline_svg::SvgOptions {
        legend: false,
        ..timeline_svg::SvgOptions::default()
    };
    Ok(timeline_svg::waveform_svg(&peaks, duration_us, &opts))
}

/// A stem's peaks ([`stem_peaks_json`], parsed).
///
/// # Errors
/// As [`stem_peaks_json`].
pub fn stem_peaks(
    console: &Console,
    dir: &Path,
    id: &str,
    stem: &str,
) -> Result<timeline_svg::Peaks, ConsoleError> {
    let json = stem_peaks_json(console, dir, id, stem)?;
    let v: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| ConsoleError::Io(e.to_string()))?;
    Ok(timeline_svg::Peaks {
        bucket_us: v
            .get("bucket_us")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(PEAK_BUCKET_US),
        sample_rate: 16_000,
        values: v
            .get("values")
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| x.as_u64().unwrap_or(0).min(255) as u8)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The speaker timeline's input for a recording: `metadata.json` (read from `dir`), with each participant's
/// quiet stretches taken from their stem's peaks, so received silence is drawn pale and not as speech. A
/// stem that cannot be read leaves that row as `metadata.json` says.
///
/// # Errors
/// [`ConsoleError::BadInput`] when `metadata.json` cannot be drawn from.
pub fn timeline_input(
    console: &Console,
    dir: &Path,
    id: &str,
    metadata: &[u8],
) -> Result<timeline_svg::TimelineInput, ConsoleError> {
    let mut t = timeline_svg::TimelineInput::from_metadata_json(metadata)
        .map_err(|e| ConsoleError::BadInput(e.to_string()))?;
    for row in &mut t.participants {
        if let Ok(p) = stem_peaks(console, dir, id, &row.name) {
            row.quiet = timeline_svg::quiet_spans(&p);
        }
    }
    Ok(t)
}

/// Length of one waveform peak.
pub const PEAK_BUCKET_US: i64 = 100_000;

/// A stem's peaks as JSON, computed on first use from `dir/participants/<stem>.wav` (the folder, or an
/// encrypted recording's decrypted copy) and kept in `.console/peaks/<sha256 of id>/<stem>.<length>.json`.
///
/// # Errors
/// [`ConsoleError::BadInput`] for a stem name that is not a plain file name; [`ConsoleError::Io`] when the
/// stem cannot be read (an encrypted stem cannot).
pub fn stem_peaks_json(
    console: &Console,
    dir: &Path,
    id: &str,
    stem: &str,
) -> Result<String, ConsoleError> {
    if stem.is_empty() || stem.contains('/') || stem.contains('\\') || stem.starts_with('.') {
        return Err(ConsoleError::BadInput(format!(
            "{stem:?} is not a stem name"
        )));
    }
    let cache_dir = console
        .config()
        .state_dir
        .join("peaks")
        .join(sha256_hex(id.as_bytes()));
    let cache = cache_dir.join(format!("{stem}.json"));
    let wav = dir.join("participants").join(format!("{stem}.wav"));
    let wav_len = std::fs::metadata(&wav)
        .map_err(|e| ConsoleError::Io(format!("{}: {e}", wav.display())))?
        .len();
    // The cache names the stem's length: a stem still growing (an open recording) is computed again.
    let tagged = cache_dir.join(format!("{stem}.{wav_len}.json"));
    if let Ok(s) = std::fs::read_to_string(&tagged) {
        return Ok(s);
    }
    let f = std::fs::File::open(&wav)
        .map_err(|e| ConsoleError::Io(format!("{}: {e}", wav.display())))?;
    let peaks = timeline_svg::peaks_from_wav(std::io::BufReader::new(f), PEAK_BUCKET_US)
        .map_err(|e| ConsoleError::Io(format!("{}: {e}", wav.display())))?;
    let json = peaks.to_json();
    if std::fs::create_dir_all(&cache_dir).is_ok() {
        let _ = std::fs::write(&tagged, &json);
        let _ = std::fs::remove_file(&cache);
    }
    Ok(json)
}
