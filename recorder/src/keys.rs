//! The signing key a recording is signed with.
//!
//! `verbatim record` uses `--signing-key FILE` when given; otherwise the installation's key at
//! [`muxer::integrity::default_key_path`] (`$VERBATIM_SIGNING_KEY`, else `$XDG_CONFIG_HOME/verbatim/signing.key`,
//! else `~/.config/verbatim/signing.key`), created on first use. A key is never stored in a recording folder:
//! the manifest holds only the public key.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use muxer::integrity::{
    default_key_path, generate_signing_key, load_signing_key, save_signing_key, KeyError,
};

/// Loads the key at `path`, or the installation's default key (creating it when it does not exist yet).
///
/// # Errors
/// The key file cannot be read or parsed, or the default key cannot be created.
pub fn signing_key(path: Option<&Path>) -> Result<(SigningKey, PathBuf), KeyError> {
    match path {
        Some(p) => Ok((load_signing_key(p)?, p.to_path_buf())),
        None => {
            let p = default_key_path()?;
            if p.exists() {
                Ok((load_signing_key(&p)?, p))
            } else {
                let k = generate_signing_key()?;
                save_signing_key(&p, &k)?;
                Ok((k, p))
            }
        }
    }
}
