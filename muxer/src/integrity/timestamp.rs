//! RFC 3161 time-stamps of signature checkpoints.
//!
//! A signature proves who sealed a recording's chain, not when: the signer's clock could be anything. A
//! time-stamping authority (TSA) countersigns a hash with its own trusted time. Each checkpoint's *imprint* is
//! the SHA-256 of the exact message the Ed25519 signature covers ([`checkpoint_imprint`]); the recorder sends
//! it to the TSA off the media thread ([`request_token`]), and links the token it gets back as a `timestamp`
//! chain record, so the next signature covers it too. [`verify_token`] checks a token: its CMS signature
//! against the TSA certificate the verifier trusts, and that the time-stamped imprint is the checkpoint's.
//!
//! The request and the few fields read from the response are DER built and read here (a request is a fixed
//! template; the token's signature check is OpenSSL's `CMS_verify`).
//!
//! # Examples
//! ```
//! use muxer::integrity::timestamp::{request_der, request_imprint};
//! let req = request_der(&[7; 32], 42);
//! assert_eq!(request_imprint(&req), Some([7; 32]));
//! ```

use std::time::Duration;

use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::stack::Stack;
use openssl::x509::X509;
use sha2::{Digest, Sha256};

use super::chain::signing_message_for;
use super::SigRecord;

/// DER of the SHA-256 algorithm OID, 2.16.840.1.101.3.4.2.1.
const SHA256_OID: [u8; 11] = [
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
];

/// Time-stamp errors.
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    /// The HTTP exchange with the TSA failed.
    #[error("time-stamping authority {url}: {reason}")]
    Http {
        /// The TSA's URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The TSA answered, but not with a granted token.
    #[error("time-stamping authority refused: {0}")]
    Refused(String),
    /// The bytes are not the DER expected.
    #[error("malformed time-stamp {0}")]
    Malformed(&'static str),
    /// The token's signature does not verify with the TSA certificate given.
    #[error("time-stamp token not signed by the TSA certificate given: {0}")]
    BadSignature(String),
    /// The TSA's time is outside its certificate's validity.
    #[error("time-stamp made at {0}, outside the TSA certificate's validity")]
    OutsideCertValidity(String),
    /// The token time-stamps another hash than the checkpoint's.
    #[error(
        "time-stamp token is for another message (imprint differs from the signed checkpoint)"
    )]
    WrongImprint,
}

/// The hash a checkpoint is time-stamped by: SHA-256 of the message its signature covers.
pub fn checkpoint_imprint(format: &str, sig: &SigRecord) -> [u8; 32] {
    Sha256::digest(signing_message_for(
        format,
        sig.entries,
        &sig.head.0,
        sig.at,
    ))
    .into()
}

/// DER length octets.
fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = (n as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    der_len(content.len(), &mut v);
    v.extend_from_slice(content);
    v
}

/// A `TimeStampReq` (RFC 3161 §2.4.1) for a SHA-256 imprint: version 1, the imprint, a nonce, and `certReq`
/// true (the TSA puts its certificate in the token).
pub fn request_der(imprint: &[u8; 32], nonce: u64) -> Vec<u8> {
    let alg = der(0x30, &[&SHA256_OID[..], &[0x05, 0x00]].concat());
    let message_imprint = der(0x30, &[alg, der(0x04, imprint)].concat());
    // A positive INTEGER in minimal form: no leading zero bytes but one that keeps the sign bit clear.
    let be = nonce.to_be_bytes();
    let skip = be.iter().take_while(|&&b| b == 0).count().min(7);
    let mut n = Vec::with_capacity(9);
    if be[skip] & 0x80 != 0 {
        n.push(0);
    }
    n.extend_from_slice(&be[skip..]);
    let body = [
        der(0x02, &[1]),
        message_imprint,
        der(0x02, &n),
        der(0x01, &[0xff]),
    ]
    .concat();
    der(0x30, &body)
}

/// One DER element: (tag, content, the whole element, what follows).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn tlv(b: &[u8]) -> Option<Tlv<'_>> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let k = (first & 0x7f) as usize;
        if k == 0 || k > 4 {
            return None;
        }
        let mut n = 0usize;
        for i in 0..k {
            n = (n << 8) | *b.get(2 + i)? as usize;
        }
        (n, 2 + k)
    };
    let end = hdr.checked_add(len)?;
    if end > b.len() {
        return None;
    }
    Some((tag, &b[hdr..end], &b[..end], &b[end..]))
}

/// The SHA-256 imprint a `MessageImprint` holds.
fn imprint_of(message_imprint: &[u8]) -> Option<[u8; 32]> {
    let (t, alg, _, rest) = tlv(message_imprint)?;
    if t != 0x30 || !alg.starts_with(&SHA256_OID) {
        return None;
    }
    let (t, hashed, _, _) = tlv(rest)?;
    if t != 0x04 {
        return None;
    }
    hashed.try_into().ok()
}

/// The imprint of a `TimeStampReq` (for a TSA's side, and tests).
pub fn request_imprint(req: &[u8]) -> Option<[u8; 32]> {
    let (_, body, _, _) = tlv(req)?;
    let (_, _, _, rest) = tlv(body)?; // version
    let (_, mi, _, _) = tlv(rest)?;
    imprint_of(mi)
}

/// The token of a `TimeStampResp` (RFC 3161 §2.4.2) when its status is granted (0) or granted with mods (1).
///
/// # Errors
/// [`TimestampError::Refused`] or [`TimestampError::Malformed`].
pub fn token_from_response(resp: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let bad = TimestampError::Malformed;
    let (t, body, _, _) = tlv(resp).ok_or(bad("response"))?;
    if t != 0x30 {
        return Err(bad("response"));
    }
    let (_, status_info, _, rest) = tlv(body).ok_or(bad("response status"))?;
    let (t, status, _, _) = tlv(status_info).ok_or(bad("response status"))?;
    if t != 0x02 {
        return Err(bad("response status"));
    }
    if status != [0] && status != [1] {
        return Err(TimestampError::Refused(format!(
            "PKIStatus {}",
            status.iter().fold(0i64, |a, b| (a << 8) | *b as i64)
        )));
    }
    let (t, _, token, _) = tlv(rest).ok_or(bad("response: no token"))?;
    if t != 0x30 {
        return Err(bad("token"));
    }
    Ok(token.to_vec())
}

/// Asks the TSA at `url` (HTTP POST, `application/timestamp-query`) to time-stamp `imprint`; returns the token.
/// Blocking: call it off the media thread.
///
/// # Errors
/// [`TimestampError::Http`] (also when the TSA is down or slower than `timeout`), or the response's errors.
pub fn request_token(
    url: &str,
    imprint: &[u8; 32],
    timeout: Duration,
) -> Result<Vec<u8>, TimestampError> {
    let http = |reason: String| TimestampError::Http {
        url: url.to_string(),
        reason,
    };
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| http(e.to_string()))?;
    let req = request_der(imprint, u64::from_be_bytes(nonce) >> 1);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .build()
        .into();
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/timestamp-query")
        .send(&req[..])
        .map_err(|e| http(e.to_string()))?;
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(|e| http(e.to_string()))?;
    token_from_response(&body)
}

/// (imprint, genTime) of a DER `TSTInfo` (RFC 3161 §2.4.2).
fn tst_info(der_bytes: &[u8]) -> Option<([u8; 32], String)> {
    let (t, body, _, _) = tlv(der_bytes)?;
    if t != 0x30 {
        return None;
    }
    let (_, _, _, rest) = tlv(body)?; // version
    let (_, _, _, rest) = tlv(rest)?; // policy
    let (_, mi, _, rest) = tlv(rest)?; // messageImprint
    let (_, _, _, rest) = tlv(rest)?; // serialNumber
    let (t, time, _, _) = tlv(rest)?; // genTime
    if t != 0x18 {
        return None;
    }
    Some((imprint_of(mi)?, String::from_utf8_lossy(time).into_owned()))
}

/// Checks a token: signed by `tsa_cert` (PEM or DER), time-stamping exactly `imprint`, made while the
/// certificate was valid (a token outlives its certificate). Returns the TSA's time (`genTime`, e.g.
/// `20261202211500Z`).
///
/// # Errors
/// [`TimestampError`].
pub fn verify_token(
    token: &[u8],
    tsa_cert: &[u8],
    imprint: &[u8; 32],
) -> Result<String, TimestampError> {
    let cert = X509::from_pem(tsa_cert)
        .or_else(|_| X509::from_der(tsa_cert))
        .map_err(|_| TimestampError::Malformed("TSA certificate (PEM or DER expected)"))?;
    let mut certs = Stack::new().map_err(|e| TimestampError::BadSignature(e.to_string()))?;
    certs
        .push(cert.clone())
        .map_err(|e| TimestampError::BadSignature(e.to_string()))?;
    let mut cms =
        CmsContentInfo::from_der(token).map_err(|_| TimestampError::Malformed("token"))?;
    let mut out = Vec::new();
    // The signer must be the certificate given (NOINTERN: certificates inside the token are not searched);
    // that certificate is the trust anchor itself, so no chain is built.
    cms.verify(
        Some(&certs),
        None,
        None,
        Some(&mut out),
        CMSOptions::NOINTERN | CMSOptions::NO_SIGNER_CERT_VERIFY,
    )
    .map_err(|e| TimestampError::BadSignature(e.to_string()))?;
    let (stamped, time) = tst_info(&out).ok_or(TimestampError::Malformed("TSTInfo"))?;
    if &stamped != imprint {
        return Err(TimestampError::WrongImprint);
    }
    // The token stays valid after the certificate expires (that is its point), but it must have been made
    // while the certificate was valid. genTime is `YYYYMMDDHHMMSS[.f]Z`.
    let whole = time
        .get(..14)
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(TimestampError::Malformed("genTime"))?;
    let at = openssl::asn1::Asn1Time::from_str(&format!("{whole}Z"))
        .map_err(|_| TimestampError::Malformed("genTime"))?;
    if cert.not_before() > at || cert.not_after() < at {
        return Err(TimestampError::OutsideCertValidity(time));
    }
    Ok(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_round_trips_and_refuses_garbage() {
        let req = request_der(&[9; 32], u64::MAX >> 1);
        assert_eq!(request_imprint(&req), Some([9; 32]));
        assert_eq!(req[0], 0x30);
        // A refused response (status 2, rejection) and truncated bytes.
        let refused = der(0x30, &der(0x30, &der(0x02, &[2])));
        assert!(matches!(
            token_from_response(&refused),
            Err(TimestampError::Refused(_))
        ));
        for n in 0..req.len() {
            assert!(tlv(&req[..n]).is_none_or(|t| t.2.len() < req.len()));
        }
        assert!(token_from_response(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
