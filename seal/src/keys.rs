//! Recipients (public) and identities (private) in the age X25519 format, and the wrapping of data keys.

use std::io::{Read, Write};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use age::x25519::{Identity, Recipient};

use crate::SealError;

/// A new identity: (`AGE-SECRET-KEY-1…`, its recipient `age1…`).
///
/// ```
/// let (secret, public) = seal::generate_identity();
/// assert!(secret.starts_with("AGE-SECRET-KEY-1") && public.starts_with("age1"));
/// ```
pub fn generate_identity() -> (String, String) {
    let id = Identity::generate();
    let public = id.to_public().to_string();
    (id.to_string().expose_secret().to_string(), public)
}

/// The public keys a recording is encrypted to (at least one).
///
/// ```
/// let (_, public) = seal::generate_identity();
/// let r = seal::Recipients::parse(&[public.clone()]).unwrap();
/// assert_eq!(r.texts(), &[public]);
/// assert!(seal::Recipients::parse(&["age1nope".to_string()]).is_err());
/// ```
#[derive(Clone)]
pub struct Recipients {
    keys: Vec<Recipient>,
    texts: Vec<String>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Recipients").field(&self.texts).finish()
    }
}

impl Recipients {
    /// Parses `age1…` recipients (surrounding white space ignored).
    ///
    /// # Errors
    /// [`SealError::NoRecipient`] for an empty list, [`SealError::Recipient`] naming the first bad one.
    pub fn parse(texts: &[String]) -> Result<Recipients, SealError> {
        if texts.is_empty() {
            return Err(SealError::NoRecipient);
        }
        let mut keys = Vec::new();
        let mut canon = Vec::new();
        for t in texts {
            let k = Recipient::from_str(t.trim()).map_err(|reason| SealError::Recipient {
                text: t.clone(),
                reason: reason.to_string(),
            })?;
            canon.push(k.to_string());
            keys.push(k);
        }
        Ok(Recipients { keys, texts: canon })
    }

    /// The recipients as `age1…` strings (what the journal records).
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// `key` encrypted to every recipient (a binary age file).
    pub(crate) fn wrap(&self, key: &[u8; 32]) -> Result<Vec<u8>, SealError> {
        let e = age::Encryptor::with_recipients(self.keys.iter().map(|k| k as &dyn age::Recipient))
            .map_err(|e| SealError::Wrapped(e.to_string()))?;
        let mut out = Vec::new();
        let mut w = e.wrap_output(&mut out)?;
        w.write_all(key)?;
        w.finish()?;
        Ok(out)
    }
}

/// The private keys `decrypt` opens files with (at least one).
///
/// ```
/// let (secret, _) = seal::generate_identity();
/// let file = format!("# created: today\n# public key: …\n{secret}\n");
/// assert_eq!(seal::Identities::parse(&file).unwrap().len(), 1);
/// assert!(seal::Identities::parse("age1notasecret").is_err());
/// ```
pub struct Identities(Vec<Identity>);

impl Identities {
    /// Parses an identity file: one `AGE-SECRET-KEY-1…` per line; blank lines and `#` comments are skipped.
    ///
    /// # Errors
    /// [`SealError::Identity`] for a line that is not an identity, or no identity at all.
    pub fn parse(text: &str) -> Result<Identities, SealError> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = Identity::from_str(line).map_err(|reason| {
                SealError::Identity(format!(
                    "line {}: {reason} (expected AGE-SECRET-KEY-1…)",
                    i + 1
                ))
            })?;
            out.push(id);
        }
        if out.is_empty() {
            return Err(SealError::Identity(
                "no AGE-SECRET-KEY-1… line found".to_string(),
            ));
        }
        Ok(Identities(out))
    }

    /// How many identities.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true (parsing refuses an empty file).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The data key inside a wrapped key (an age file).
    pub(crate) fn unwrap_key(&self, wrapped: &[u8]) -> Result<[u8; 32], SealError> {
        let d = age::Decryptor::new(wrapped).map_err(|e| SealError::Wrapped(e.to_string()))?;
        let mut r = d
            .decrypt(self.0.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => SealError::WrongIdentity,
                e => SealError::Wrapped(e.to_string()),
            })?;
        let mut key = Vec::new();
        r.read_to_end(&mut key)
            .map_err(|e| SealError::Wrapped(e.to_string()))?;
        <[u8; 32]>::try_from(key.as_slice())
            .map_err(|_| SealError::Wrapped(format!("{} bytes, not a 32-byte key", key.len())))
    }
}
