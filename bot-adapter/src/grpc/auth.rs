//! Bearer-token authentication of the bot, compared in constant time.

/// The token a bot must present as `authorization: Bearer <token>` metadata.
#[derive(Clone)]
pub struct BearerToken(Vec<u8>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// A token that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Empty after trimming whitespace.
    #[error("the token is empty")]
    Empty,
    /// Contains characters that cannot travel in an HTTP header value.
    #[error("the token contains characters not allowed in an HTTP header (use printable ASCII)")]
    NotPrintable,
}

impl BearerToken {
    /// A token from its text (surrounding whitespace, e.g. a file's final newline, is ignored).
    ///
    /// # Errors
    /// [`TokenError`] for an empty or non-printable token.
    ///
    /// # Examples
    /// ```
    /// use bot_adapter::grpc::auth::BearerToken;
    /// let t = BearerToken::new("s3cret\n").unwrap();
    /// assert!(t.check_header(Some("Bearer s3cret")));
    /// assert!(!t.check_header(Some("Bearer s3cres")));
    /// assert!(!t.check_header(None));
    /// ```
    pub fn new(text: &str) -> Result<Self, TokenError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(TokenError::Empty);
        }
        if !t.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(TokenError::NotPrintable);
        }
        Ok(BearerToken(t.as_bytes().to_vec()))
    }

    /// The header value a client sends: `Bearer <token>`.
    pub fn header_value(&self) -> String {
        format!("Bearer {}", String::from_utf8_lossy(&self.0))
    }

    /// Checks an `authorization` header value. The comparison takes the same time whatever the position of the
    /// first differing byte (it only depends on the lengths).
    pub fn check_header(&self, value: Option<&str>) -> bool {
        let Some(v) = value else { return false };
        let Some(presented) = v.strip_prefix("Bearer ") else {
            return false;
        };
        constant_time_eq(presented.trim().as_bytes(), &self.0)
    }
}

/// Compares two byte strings without an early exit: every byte of the longer one is looked at.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_bytes_and_lengths_match() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn bad_tokens_are_refused() {
        assert_eq!(BearerToken::new("  \n").unwrap_err(), TokenError::Empty);
        assert_eq!(
            BearerToken::new("a b").unwrap_err(),
            TokenError::NotPrintable
        );
        let t = BearerToken::new("tok").unwrap();
        assert!(!t.check_header(Some("bearer tok")));
        assert!(!t.check_header(Some("Basic tok")));
        assert_eq!(format!("{t:?}"), "BearerToken(<redacted>)");
    }
}
