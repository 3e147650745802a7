//! Authenticating `manifest.journal` before recovery trusts it.
//!
//! The journal's signature lines are checked against the chain recomputed from its records, with the public
//! key of its begin line: the records up to the last valid signature ("live-signed") are then exactly what the
//! recorder signed. A crash can only tear the journal's end, and the recorder makes every record before a
//! signature durable before it writes the signature, so a signature line that does not verify, or a valid
//! line after a damaged one followed by a signature, means the signed part was altered.

use ed25519_dalek::{Signature, VerifyingKey};

use super::{RecoverError, Tampered};
use crate::integrity::chain::{signing_message_for, Chain};
use crate::integrity::manifest::{format_version, parse_journal, Begin, JournalLine};
use crate::integrity::{Entry, SigRecord};

/// A journal read and its signatures checked.
pub(super) struct Journal {
    /// The begin line.
    pub begin: Begin,
    /// Every chain record, in order.
    pub entries: Vec<Entry>,
    /// The signatures that verify, in order.
    pub sigs: Vec<SigRecord>,
    /// Records covered by the last valid signature.
    pub live: u64,
    /// Signature lines that do not verify, and damage before a signature (each a finding).
    pub damage: Vec<Tampered>,
}

/// Reads and authenticates journal bytes (see the module docs).
pub(super) fn authenticate(bytes: &[u8]) -> Result<Journal, RecoverError> {
    let (lines, consumed) = parse_journal(bytes);
    // Where each parsed line lies in the file (they are the complete lines of `bytes[..consumed]`, in order).
    let mut spans = Vec::with_capacity(lines.len());
    let mut start = 0usize;
    for (i, b) in bytes[..consumed].iter().enumerate() {
        if *b == b'\n' {
            spans.push((start as u64, (i + 1 - start) as u64));
            start = i + 1;
        }
    }
    let mut spans = spans.into_iter().skip(1);
    let mut lines = lines.into_iter();
    let Some(JournalLine::Begin(begin)) = lines.next() else {
        return Err(RecoverError::JournalUnreadable);
    };
    if format_version(&begin.format).is_none() {
        return Err(RecoverError::UnsupportedFormat(begin.format));
    }
    let key = VerifyingKey::from_bytes(&begin.public_key.0)
        .map_err(|_| RecoverError::JournalUnreadable)?;
    let mut chain = Chain::for_begin(&begin);
    let (mut entries, mut sigs, mut damage) = (Vec::new(), Vec::new(), Vec::new());
    let mut live = 0u64;
    for line in lines {
        let span = spans.next().unwrap_or((0, 0));
        match line {
            // A second begin line cannot be written by the recorder.
            JournalLine::Begin(_) => {
                damage.push(journal_finding(span, "a second begin line".into()))
            }
            JournalLine::Entry(e) => {
                chain.push(&e);
                entries.push(e);
            }
            JournalLine::Sig(s) => {
                let ok = s.entries == chain.count
                    && s.head.0 == chain.head
                    && key
                        .verify_strict(
                            &signing_message_for(&begin.format, s.entries, &s.head.0, s.at),
                            &Signature::from_bytes(&s.signature.0),
                        )
                        .is_ok();
                if ok {
                    live = s.entries;
                    sigs.push(s);
                } else {
                    damage.push(journal_finding(
                        span,
                        format!(
                            "the signature over {} records does not match the {} records before it \
                             (records altered, removed or inserted, or the signature forged)",
                            s.entries, chain.count
                        ),
                    ));
                }
            }
        }
    }
    // What follows the first line that does not parse: a crash leaves at most a torn end; a signature line
    // after it means a signed part was damaged.
    let rest = &bytes[consumed..];
    let mut at = consumed;
    let mut pieces = rest.split(|&b| b == b'\n').peekable();
    while let Some(piece) = pieces.next() {
        let complete = pieces.peek().is_some();
        if complete && matches!(serde_json::from_slice(piece), Ok(JournalLine::Sig(_))) {
            damage.push(journal_finding(
                (consumed as u64, (at - consumed) as u64),
                format!(
                    "not valid journal lines, but a signature line follows at byte {at}: a signed part \
                     was damaged"
                ),
            ));
            break;
        }
        at += piece.len() + 1;
    }
    Ok(Journal {
        begin,
        entries,
        sigs,
        live,
        damage,
    })
}

fn journal_finding((offset, len): (u64, u64), cause: String) -> Tampered {
    Tampered {
        path: crate::recording::JOURNAL_FILE.to_string(),
        offset,
        len,
        cause,
    }
}
