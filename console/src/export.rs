//! Evidence bundles: one zip of a recording a regulator can check offline.
//!
//! The zip holds the folder's files exactly as the manifest lists them (byte for byte, under `recording/`),
//! `manifest.json`, `public-key.txt` (the signer's Ed25519 key, hex, as `verbatim verify --public-key`
//! reads it), `verify-report.txt` (the console's verdict when the bundle was made) and `README.txt` with the
//! offline verification steps. Nothing is re-encoded: the chain's hashes hold for the unpacked files.

use std::io::Write;
use std::path::Path;

use zip::write::SimpleFileOptions;

use crate::{ConsoleError, Verdict};

/// What went into a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// Files of the recording (manifest included).
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// SHA-256 of the whole zip (hex), for the audit log.
    pub sha256: String,
}

/// Writes the evidence bundle of `dir` (catalogue id `id`) into `out` and returns what it holds.
///
/// # Errors
/// [`ConsoleError::Io`] when a listed file cannot be read or the zip written; [`ConsoleError::BadInput`]
/// when the folder has no readable manifest (a recording still open cannot be exported).
pub fn export_zip<W: Write + std::io::Seek + std::io::Read>(
    dir: &Path,
    id: &str,
    verdict: &Verdict,
    out: W,
) -> Result<(W, ExportReport), ConsoleError> {
    let io = |what: &str, e: &dyn std::fmt::Display| ConsoleError::Io(format!("{what}: {e}"));
    let manifest_bytes = std::fs::read(dir.join("manifest.json")).map_err(|e| {
        ConsoleError::BadInput(format!(
            "{id}: no manifest.json ({e}): a recording still open cannot be exported"
        ))
    })?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| ConsoleError::BadInput(format!("{id}: manifest.json unreadable: {e}")))?;
    let mut paths: Vec<String> = manifest
        .get("files")
        .and_then(serde_json::Value::as_array)
        .map(|fs| {
            fs.iter()
                .filter_map(|f| f.get("path")?.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    paths.retain(|p| crate::folder_of(dir, p).is_ok());
    paths.sort();
    let mut zip = zip::ZipWriter::new(out);
    let stored = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut bytes = 0u64;
    for p in paths
        .iter()
        .chain(std::iter::once(&"manifest.json".to_string()))
    {
        let src = dir.join(p);
        let mut f = std::fs::File::open(&src).map_err(|e| io(&src.display().to_string(), &e))?;
        let opts = if p.ends_with(".json") || p.ends_with(".jsonl") {
            deflated
        } else {
            stored
        };
        zip.start_file(format!("recording/{p}"), opts)
            .map_err(|e| io("zip", &e))?;
        bytes += std::io::copy(&mut f, &mut zip).map_err(|e| io(&src.display().to_string(), &e))?;
    }
    let key_text = format!("{}\n", verdict.public_key);
    zip.start_file("public-key.txt", deflated)
        .map_err(|e| io("zip", &e))?;
    zip.write_all(key_text.as_bytes())
        .map_err(|e| io("zip", &e))?;
    let report = format!(
        "recording: {id}\nmade (UTC): {}\nintact: {}\nsigner authenticated by the console's keyring: {}\n{}\n{}\n",
        catalog::format_utc(crate::now_us()),
        verdict.intact,
        verdict.signer_trusted,
        verdict.summary,
        verdict.signing
    );
    zip.start_file("verify-report.txt", deflated)
        .map_err(|e| io("zip", &e))?;
    zip.write_all(report.as_bytes())
        .map_err(|e| io("zip", &e))?;
    zip.start_file("README.txt", deflated)
        .map_err(|e| io("zip", &e))?;
    zip.write_all(readme(id, verdict).as_bytes())
        .map_err(|e| io("zip", &e))?;
    let mut out = zip.finish().map_err(|e| io("zip", &e))?;
    // Hash what was written, for the audit entry.
    out.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| io("zip", &e))?;
    let sha256 = hash_reader(&mut out).map_err(|e| io("zip", &e))?;
    Ok((
        out,
        ExportReport {
            files: paths.len() + 1,
            bytes,
            sha256,
        },
    ))
}

fn hash_reader<R: std::io::Read>(r: &mut R) -> std::io::Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::hex(&h.finalize()))
}

fn readme(id: &str, v: &Verdict) -> String {
    format!(
        "Evidence bundle of recording {id}\n\
         ================================\n\n\
         recording/         the recording folder's files, byte for byte as recorded (never re-encoded)\n\
         recording/manifest.json  the signed hash chain over every byte of every file\n\
         public-key.txt     the Ed25519 public key that signed the manifest ({key})\n\
         verify-report.txt  the console's verdict when this bundle was made\n\n\
         To verify offline (Verbatim's command-line tool, no network needed):\n\n\
         \x20 unzip bundle.zip -d bundle\n\
         \x20 verbatim verify bundle/recording --public-key bundle/public-key.txt\n\n\
         Exit code 0: every byte is as signed, by that key. Check that the key in public-key.txt is the\n\
         recording firm's published key (or verify with --keyring FILE holding the firm's keys): a bundle\n\
         proves nothing about who signed it if the key travels with it and is not checked against a\n\
         source you trust.\n\n\
         The manifest's chain can also be checked without Verbatim: every record names a file, a byte range\n\
         and the SHA-256 of those bytes, and each record's hash covers the previous one; the signatures are\n\
         Ed25519 over the chain head (see the format's description in Verbatim's docs/muxer.md).\n",
        key = v.key_id
    )
}
