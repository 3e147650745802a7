//! A keyring: the public keys an organisation has signed recordings with, and when each was in use.
//!
//! Keys are rotated over the years a recording must be kept; a keyring lets `verify` accept every recording
//! signed by any of the organisation's keys while it was in service, and nothing else.
//!
//! # File format
//! ASCII text: a header line, then one key per line; `#` starts a comment, blank lines are ignored.
//!
//! ```text
//! verbatim-keyring-v1
//! # public key (64 hex digits)                                     [from=…] [until=…] [label]
//! d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a from=2025-01-01 until=2026-01-01 recorder-1
//! 3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c from=2026-01-01T00:00:00Z recorder-2
//! ```
//!
//! `from` and `until` are dates (`YYYY-MM-DD`, midnight UTC) or RFC 3339 times; a recording verifies with a key
//! when its start time lies in `[from, until)` (an absent bound is open).
//!
//! # Examples
//! ```
//! use muxer::integrity::{key_id, Keyring};
//! let ring = Keyring::parse(
//!     "verbatim-keyring-v1\n\
//!      d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a from=2025-01-01 until=2026-01-01 old\n",
//! )
//! .unwrap();
//! let pk = ring.entries()[0].key;
//! assert_eq!(ring.entries()[0].id, key_id(&pk));
//! assert!(ring.check(pk.as_bytes(), 1_750_000_000_000).is_ok()); // June 2025
//! assert!(ring.check(pk.as_bytes(), 1_780_000_000_000).is_err()); // 2026: retired
//! ```

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::keys::{key_id, parse_public_key};

const HEADER: &str = "verbatim-keyring-v1";

/// One trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringEntry {
    /// The public key.
    pub key: VerifyingKey,
    /// Its id ([`key_id`]).
    pub id: String,
    /// First instant (Unix ms, UTC) a recording may start with this key; `None`: always.
    pub from_ms: Option<i64>,
    /// Instant (Unix ms, UTC) from which recordings may no longer start with this key; `None`: never.
    pub until_ms: Option<i64>,
    /// Free text after the key and its bounds.
    pub label: String,
}

/// Keyring errors.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The file cannot be read.
    #[error("keyring {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not in the documented format.
    #[error("keyring line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The key is not in the keyring.
    #[error("key {id} is not in the keyring")]
    UnknownKey {
        /// The key's id.
        id: String,
    },
    /// The key is in the keyring but was not in service at the time given.
    #[error("key {id} ({label}) was not in service at {at}: valid {valid}")]
    OutOfService {
        /// The key's id.
        id: String,
        /// Its label.
        label: String,
        /// The instant checked (RFC 3339).
        at: String,
        /// Its validity period.
        valid: String,
    },
}

fn parse_instant(s: &str) -> Option<i64> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    let t = OffsetDateTime::parse(&full, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// An instant as RFC 3339 text (for messages).
pub fn instant_text(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Trusted public keys with validity periods (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyring {
    entries: Vec<KeyringEntry>,
}

impl Keyring {
    /// Parses a keyring file's text.
    ///
    /// # Errors
    /// [`KeyringError::Malformed`] naming the line.
    pub fn parse(text: &str) -> Result<Keyring, KeyringError> {
        let mut entries: Vec<KeyringEntry> = Vec::new();
        let mut seen_header = false;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let bad = |reason: String| KeyringError::Malformed {
                line: line_no,
                reason,
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if !seen_header {
                if line != HEADER {
                    return Err(bad(format!("expected the header line {HEADER:?}")));
                }
                seen_header = true;
                continue;
            }
            let mut words = line.split_whitespace();
            let hex = words.next().unwrap_or("");
            let key = parse_public_key(hex).map_err(|e| bad(e.to_string()))?;
            let (mut from_ms, mut until_ms, mut label) = (None, None, Vec::new());
            for w in words {
                if let Some(v) = w.strip_prefix("from=") {
                    from_ms = Some(parse_instant(v).ok_or_else(|| bad(format!("bad date {v:?}")))?);
                } else if let Some(v) = w.strip_prefix("until=") {
                    until_ms =
                        Some(parse_instant(v).ok_or_else(|| bad(format!("bad date {v:?}")))?);
                } else {
                    label.push(w);
                }
            }
            if let (Some(f), Some(u)) = (from_ms, until_ms) {
                if u <= f {
                    return Err(bad("`until` is not after `from`".into()));
                }
            }
            entries.push(KeyringEntry {
                id: key_id(&key),
                key,
                from_ms,
                until_ms,
                label: label.join(" "),
            });
        }
        if !seen_header {
            return Err(KeyringError::Malformed {
                line: 1,
                reason: format!("empty: expected the header line {HEADER:?}"),
            });
        }
        Ok(Keyring { entries })
    }

    /// Loads a keyring file.
    ///
    /// # Errors
    /// [`KeyringError::Io`] or [`KeyringError::Malformed`].
    pub fn load(path: &Path) -> Result<Keyring, KeyringError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyringError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Keyring::parse(&text)
    }

    /// A keyring of one key valid at all times.
    pub fn single(key: VerifyingKey) -> Keyring {
        Keyring {
            entries: vec![KeyringEntry {
                id: key_id(&key),
                key,
                from_ms: None,
                until_ms: None,
                label: String::new(),
            }],
        }
    }

    /// The keys, in file order.
    pub fn entries(&self) -> &[KeyringEntry] {
        &self.entries
    }

    /// The entry of `public_key` in service at `at_ms` (Unix ms, UTC).
    ///
    /// # Errors
    /// [`KeyringError::UnknownKey`] or [`KeyringError::OutOfService`].
    pub fn check(&self, public_key: &[u8; 32], at_ms: i64) -> Result<&KeyringEntry, KeyringError> {
        let mut found = None;
        for e in self
            .entries
            .iter()
            .filter(|e| e.key.as_bytes() == public_key)
        {
            if e.from_ms.is_none_or(|f| at_ms >= f) && e.until_ms.is_none_or(|u| at_ms < u) {
                return Ok(e);
            }
            found = Some(e);
        }
        match found {
            Some(e) => Err(KeyringError::OutOfService {
                id: e.id.clone(),
                label: e.label.clone(),
                at: instant_text(at_ms),
                valid: format!(
                    "[{}, {})",
                    e.from_ms.map_or("-".into(), instant_text),
                    e.until_ms.map_or("-".into(), instant_text)
                ),
            }),
            None => Err(KeyringError::UnknownKey {
                id: VerifyingKey::from_bytes(public_key)
                    .map(|k| key_id(&k))
                    .unwrap_or_else(|_| super::hex::encode(public_key)),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const B: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

    #[test]
    fn rotation_periods_and_errors() {
        let ring = Keyring::parse(&format!(
            "# org keys\n{HEADER}\n{A} from=2025-01-01 until=2026-01-01 first key\n\n{B} from=2026-01-01T00:00:00Z # new\n"
        ))
        .unwrap();
        assert_eq!(ring.entries().len(), 2);
        assert_eq!(ring.entries()[0].label, "first key");
        let a = parse_public_key(A).unwrap();
        let b = parse_public_key(B).unwrap();
        let jan_2026 = 1_767_225_600_000;
        assert_eq!(ring.entries()[1].from_ms, Some(jan_2026));
        assert!(ring.check(a.as_bytes(), jan_2026 - 1).is_ok());
        assert!(matches!(
            ring.check(a.as_bytes(), jan_2026),
            Err(KeyringError::OutOfService { .. })
        ));
        assert!(ring.check(b.as_bytes(), jan_2026).is_ok());
        assert!(matches!(
            ring.check(b.as_bytes(), jan_2026 - 1),
            Err(KeyringError::OutOfService { .. })
        ));
        assert!(matches!(
            ring.check(&[7; 32], 0),
            Err(KeyringError::UnknownKey { .. })
        ));
        for bad in [
            format!("{A}\n"),
            format!("{HEADER}\n{A} from=2025-13-01\n"),
            format!("{HEADER}\n{A} from=2026-01-01 until=2025-01-01\n"),
            format!("{HEADER}\nnot-a-key\n"),
            String::new(),
        ] {
            assert!(
                matches!(Keyring::parse(&bad), Err(KeyringError::Malformed { .. })),
                "{bad:?}"
            );
        }
    }
}
