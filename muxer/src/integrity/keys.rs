//! Signing keys: generation, text file format, default location.
//!
//! # File format
//! A key file is two lines of ASCII text:
//!
//! ```text
//! verbatim-ed25519-secret-key-v1
//! <64 lower-case hex digits: the 32-byte Ed25519 seed>
//! ```
//!
//! and a public key file (or a public key given on a command line) is:
//!
//! ```text
//! verbatim-ed25519-public-key-v1
//! <64 lower-case hex digits: the 32-byte Ed25519 public key>
//! ```
//!
//! [`parse_public_key`] also accepts the bare 64 hex digits. Secret key files are created with mode 0600 and
//! never overwritten.
//!
//! # Key ids
//! A key is named by its id, [`key_id`]: `ed25519:` and the first 16 hex digits of the SHA-256 of the 32-byte
//! public key. Manifests (version 2 on) carry the id of the key that signed them; `keygen` prints it.
//!
//! # Default location
//! One key per installation, outside every recording folder: `$VERBATIM_SIGNING_KEY` if set, else
//! `$XDG_CONFIG_HOME/verbatim/signing.key`, else `$HOME/.config/verbatim/signing.key` ([`default_key_path`]).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::hex;

const SECRET_HEADER: &str = "verbatim-ed25519-secret-key-v1";
const PUBLIC_HEADER: &str = "verbatim-ed25519-public-key-v1";

/// Key handling errors.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The text is not in the documented format.
    #[error("malformed key: {0}")]
    Malformed(&'static str),
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// No default location can be derived (no `$HOME`).
    #[error("no default key location: set VERBATIM_SIGNING_KEY, XDG_CONFIG_HOME or HOME")]
    NoDefaultLocation,
}

/// A fresh key pair from the operating system's random source.
///
/// # Errors
/// [`KeyError::Random`].
pub fn generate_signing_key() -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The per-installation default key file (see the module docs).
///
/// # Errors
/// [`KeyError::NoDefaultLocation`].
pub fn default_key_path() -> Result<PathBuf, KeyError> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(p) = var("VERBATIM_SIGNING_KEY") {
        return Ok(PathBuf::from(p));
    }
    if let Some(x) = var("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(x).join("verbatim").join("signing.key"));
    }
    var("HOME")
        .map(|h| PathBuf::from(h).join(".config/verbatim/signing.key"))
        .ok_or(KeyError::NoDefaultLocation)
}

/// A public key's id: `ed25519:` and the first 16 hex digits (64 bits) of SHA-256 of the key's 32 bytes.
///
/// # Examples
/// ```
/// use muxer::integrity::{key_id, parse_public_key};
/// let pk = parse_public_key("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap();
/// let id = key_id(&pk);
/// assert!(id.starts_with("ed25519:") && id.len() == 8 + 16);
/// ```
pub fn key_id(key: &VerifyingKey) -> String {
    let d = Sha256::digest(key.as_bytes());
    format!("ed25519:{}", hex::encode(&d[..8]))
}

/// The text of a secret key file.
pub fn signing_key_text(key: &SigningKey) -> String {
    format!("{SECRET_HEADER}\n{}\n", hex::encode(&key.to_bytes()))
}

/// The text of a public key file.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_HEADER}\n{}\n", hex::encode(key.as_bytes()))
}

/// Saves a secret key to a new file (mode 0600, parent folders created). Refuses to overwrite.
///
/// # Errors
/// [`KeyError::Io`] (including `AlreadyExists`).
pub fn save_signing_key(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(signing_key_text(key).as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

fn parse_tagged(text: &str, header: &str) -> Result<[u8; 32], KeyError> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().ok_or(KeyError::Malformed("empty"))?;
    let hex_line = if first == header {
        lines.next().ok_or(KeyError::Malformed("no key line"))?
    } else if first.starts_with("verbatim-") {
        return Err(KeyError::Malformed("unexpected header line"));
    } else {
        first
    };
    if lines.next().is_some() {
        return Err(KeyError::Malformed("extra lines"));
    }
    hex::decode::<32>(hex_line).ok_or(KeyError::Malformed("expected 64 lower-case hex digits"))
}

/// Parses the text of a secret key file.
///
/// # Errors
/// [`KeyError::Malformed`].
pub fn parse_signing_key(text: &str) -> Result<SigningKey, KeyError> {
    if !text.trim_start().starts_with(SECRET_HEADER) {
        return Err(KeyError::Malformed("missing secret key header line"));
    }
    Ok(SigningKey::from_bytes(&parse_tagged(text, SECRET_HEADER)?))
}

/// Loads a secret key file.
///
/// # Errors
/// [`KeyError::Io`] or [`KeyError::Malformed`].
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_signing_key(&text)
}

/// Parses a public key: a public key file's text, or bare hex.
///
/// # Errors
/// [`KeyError::Malformed`] (also for bytes that are not a curve point).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let bytes = parse_tagged(text, PUBLIC_HEADER)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Malformed("not an Ed25519 public key"))
}

/// Loads a public key file.
///
/// # Errors
/// [`KeyError::Io`] or [`KeyError::Malformed`].
pub fn load_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let text = fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_public_key(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_round_trips() {
        let k = generate_signing_key().unwrap();
        let back = parse_signing_key(&signing_key_text(&k)).unwrap();
        assert_eq!(back.to_bytes(), k.to_bytes());
        let p = parse_public_key(&public_key_text(&k.verifying_key())).unwrap();
        assert_eq!(p, k.verifying_key());
        let bare = hex::encode(k.verifying_key().as_bytes());
        assert_eq!(parse_public_key(&bare).unwrap(), k.verifying_key());
        assert!(parse_signing_key(&bare).is_err());
    }
}
