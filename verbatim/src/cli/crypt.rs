//! Encryption at rest on the command line: `keygen --encryption`, the `--encrypt-to` check of `record` and
//! `listen`, and `decrypt` (see `docs/encryption.md`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// `verbatim decrypt DIR --identity FILE --out PLAIN`.
#[derive(clap::Args)]
pub struct DecryptArgs {
    /// The encrypted recording folder (closed: `verbatim recover` a crashed one first).
    pub dir: PathBuf,
    /// The age identity file (`AGE-SECRET-KEY-1…`, from `verbatim keygen --encryption`).
    #[arg(long, value_name = "FILE")]
    pub identity: PathBuf,
    /// Where the plaintext files go (a new or empty folder). `manifest.json` covers the encrypted bytes: it
    /// is copied as `encrypted-manifest.json`.
    #[arg(long, value_name = "PLAIN")]
    pub out: PathBuf,
    /// Decrypt without verifying the folder first (a damaged folder; the files' records are still
    /// authenticated one by one).
    #[arg(long)]
    pub no_verify: bool,
}

/// Checks `--encrypt-to` recipients at start (a malformed one is an error before anything is recorded).
///
/// # Errors
/// Names the bad recipient.
pub fn recipients(texts: &[String]) -> Result<Vec<String>> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let r = seal::Recipients::parse(texts).context("--encrypt-to")?;
    Ok(r.texts().to_vec())
}

/// `keygen --encryption --identity-file FILE`: a new age identity in FILE (0600, never overwritten); the
/// recipient on stdout.
///
/// # Errors
/// FILE exists or cannot be written.
pub fn keygen_encryption(path: &Path) -> Result<()> {
    let (secret, public) = seal::generate_identity();
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = match o.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} exists: not overwritten (recordings encrypted to its recipient need it to be decrypted)",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| path.display().to_string()),
    };
    writeln!(
        f,
        "# verbatim encryption identity (age X25519): keep it off the recorder\n# public key: {public}\n{secret}"
    )
    .and_then(|_| f.sync_all())
    .with_context(|| path.display().to_string())?;
    eprintln!(
        "identity:  {} (private: needed by `verbatim decrypt`, never by the recorder)\nrecipient: {public}",
        path.display()
    );
    println!("{public}");
    Ok(())
}

/// `verbatim decrypt`.
///
/// # Errors
/// The identity cannot be read, the folder does not verify, a file cannot be opened with the identity.
pub fn decrypt(a: DecryptArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.identity)
        .with_context(|| format!("identity {}", a.identity.display()))?;
    let ids = seal::Identities::parse(&text)
        .with_context(|| format!("identity {}", a.identity.display()))?;
    let r =
        muxer::decrypt::decrypt_dir(&a.dir, &ids, &a.out, !a.no_verify).map_err(|e| match &e {
            muxer::decrypt::DecryptError::Sealed {
                source: seal::SealError::WrongIdentity,
                ..
            } => anyhow::anyhow!(
                "{e}: identity {} is not one of the recipients ({})",
                a.identity.display(),
                encrypted_to(&a.dir)
            ),
            _ => anyhow::Error::new(e),
        })?;
    if let Some(v) = &r.verified {
        println!("{v}");
    }
    for f in &r.fixed {
        println!("  fixed after the crash: {f}");
    }
    // As `verbatim recover` does for a plaintext folder: metadata.json died with the recorder.
    let md_path = a.out.join("metadata.json");
    if r.recovered && std::fs::metadata(&md_path).map_or(true, |m| m.len() == 0) {
        match crate_rebuild(&a.out) {
            Ok(Some(md)) => {
                std::fs::write(&md_path, md).with_context(|| md_path.display().to_string())?;
                println!("  metadata.json: rebuilt from timeline.jsonl");
            }
            Ok(None) => {}
            Err(e) => eprintln!("verbatim: warning: metadata.json not rebuilt: {e}"),
        }
    }
    let bytes: u64 = r.files.iter().map(|f| f.1).sum();
    println!(
        "decrypted {} files ({bytes} bytes) into {} (encrypted to {}); {} is a copy of the manifest, \
         which covers the encrypted bytes",
        r.files.len(),
        a.out.display(),
        r.recipients.join(", "),
        muxer::decrypt::ENCRYPTED_MANIFEST_FILE
    );
    Ok(())
}

fn crate_rebuild(dir: &Path) -> Result<Option<Vec<u8>>> {
    Ok(verbatim::rebuild::rebuild_metadata(dir)?)
}

/// The recipients a folder names, for messages.
fn encrypted_to(dir: &Path) -> String {
    std::fs::read(dir.join(muxer::recording::MANIFEST_FILE))
        .ok()
        .and_then(|b| muxer::integrity::Manifest::parse(&b).ok())
        .and_then(|m| m.encrypted_to().map(|r| r.join(", ")))
        .unwrap_or_else(|| "unknown".into())
}
