//! What was signed live and what was sealed at recovery: the `recovered` record checked, per-file ranges.

use std::collections::BTreeMap;

use super::VerifyError;
use crate::integrity::{Entry, Manifest, Status};

/// How recovery closed a folder (from its signed `recovered` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryInfo {
    /// Chain records covered by a signature made while recording.
    pub live_entries: u64,
    /// Records sealed by recovery (after the live ones, up to and including the `recovered` record).
    pub sealed_entries: u64,
    /// Wall clock of the recovery, Unix ms (UTC).
    pub utc_ms: i64,
    /// The key that sealed them.
    pub key_id: String,
    /// Altered ranges an operator accepted (`recover --accept-tampered`); empty when nothing differed.
    pub accepted_tampering: Vec<String>,
}

/// One file's byte ranges by who vouches for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCoverage {
    /// Relative path.
    pub path: String,
    /// Length.
    pub size: u64,
    /// Ranges `[start, end)` whose record a signature made while recording covers.
    pub live: Vec<(u64, u64)>,
    /// Ranges `[start, end)` sealed at recovery (the unsigned tail of a crash, headers rewritten by recovery).
    pub sealed: Vec<(u64, u64)>,
}

impl FileCoverage {
    /// Bytes sealed at recovery.
    pub fn sealed_bytes(&self) -> u64 {
        self.sealed.iter().map(|(a, b)| b - a).sum()
    }
    /// One line: `path: signed live a..b, …; sealed at recovery c..d, …`.
    pub fn to_text(&self) -> String {
        let list = |v: &[(u64, u64)]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter()
                    .map(|(a, b)| format!("{a}..{b}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        format!(
            "{}: signed live {}; sealed at recovery {}",
            self.path,
            list(&self.live),
            list(&self.sealed)
        )
    }
}

/// Checks the `recovered` record (at most one, version 2 only, consistent with the signatures) and returns it.
pub(super) fn check_recovery(
    m: &Manifest,
    version: u32,
    key_id: &str,
) -> Result<Option<RecoveryInfo>, VerifyError> {
    let bad = |why: &str| Err(VerifyError::Inconsistent(why.to_string()));
    let mut found = None;
    for (i, e) in m.entries.iter().enumerate() {
        if let Entry::Recovered {
            live_entries,
            utc_ms,
            key_id: k,
            accepted_tampering,
        } = e
        {
            if version < 2 {
                return bad("a `recovered` record in a version 1 manifest");
            }
            if found.is_some() {
                return bad("more than one `recovered` record");
            }
            let pos = i as u64 + 1;
            if *live_entries >= pos {
                return bad("`recovered` claims live signatures over records after it");
            }
            if k != key_id {
                return Err(VerifyError::Inconsistent(format!(
                    "`recovered` names key {k}, the manifest is signed by {key_id}"
                )));
            }
            found = Some(RecoveryInfo {
                live_entries: *live_entries,
                sealed_entries: pos - live_entries,
                utc_ms: *utc_ms,
                key_id: k.clone(),
                accepted_tampering: accepted_tampering.clone(),
            });
            if m.entries[i + 1..]
                .iter()
                .any(|e| !matches!(e, Entry::Status { .. }))
            {
                return bad("records other than statuses after `recovered`");
            }
            let pos_live = *live_entries;
            if pos_live > 0 && !m.signatures.iter().any(|s| s.entries == pos_live) {
                return bad("`recovered` names a live signature that is not listed");
            }
            if m.signatures
                .iter()
                .any(|s| s.entries > pos_live && s.entries < pos)
            {
                return bad("a signature between the live ones and the recovery seal");
            }
        }
    }
    if found.is_some() && m.final_status != Some(Status::Interrupted) {
        return bad("a recovered folder must end with status `interrupted`");
    }
    Ok(found)
}

/// Checks every `timestamp` record: version 2 only, after the signature it names; with a TSA certificate, its
/// token (signature and imprint). Returns (record count, TSA time when checked).
pub(super) fn check_timestamps(
    m: &Manifest,
    version: u32,
    tsa_cert: Option<&[u8]>,
) -> Result<Vec<(u64, Option<String>)>, VerifyError> {
    use crate::integrity::timestamp::{checkpoint_imprint, verify_token};
    let mut out = Vec::new();
    for (i, e) in m.entries.iter().enumerate() {
        let Entry::Timestamp { entries, token } = e else {
            continue;
        };
        if version < 2 {
            return Err(VerifyError::Inconsistent(
                "a `timestamp` record in a version 1 manifest".into(),
            ));
        }
        let Some(sig) = m
            .signatures
            .iter()
            .find(|s| s.entries == *entries && s.entries <= i as u64)
        else {
            return Err(VerifyError::Inconsistent(format!(
                "a time-stamp of a signature over {entries} records, which is not listed before it"
            )));
        };
        let time = match tsa_cert {
            Some(cert) => Some(
                verify_token(&token.0, cert, &checkpoint_imprint(&m.format, sig)).map_err(
                    |source| VerifyError::Timestamp {
                        entries: *entries,
                        source,
                    },
                )?,
            ),
            None => None,
        };
        out.push((*entries, time));
    }
    Ok(out)
}

/// Per file, the ranges in force by the record that put them there: live when that record is among the first
/// `live` records (all records when `live` is `None`).
pub(super) fn file_coverage(m: &Manifest, live: Option<u64>) -> Vec<FileCoverage> {
    let limit = live.unwrap_or(m.entry_count);
    m.files
        .iter()
        .map(|f| {
            // (offset, len) -> index of the record in force (the last `header` for a range wins).
            let mut regions: BTreeMap<(u64, u64), u64> = BTreeMap::new();
            for (i, e) in m.entries.iter().enumerate() {
                match e {
                    Entry::Data {
                        file, offset, len, ..
                    }
                    | Entry::Header {
                        file, offset, len, ..
                    } if *file == f.id => {
                        regions.insert((*offset, *len), i as u64 + 1);
                    }
                    _ => {}
                }
            }
            let mut c = FileCoverage {
                path: f.path.clone(),
                size: f.size,
                live: Vec::new(),
                sealed: Vec::new(),
            };
            for ((offset, len), idx) in regions {
                let list = if idx <= limit {
                    &mut c.live
                } else {
                    &mut c.sealed
                };
                match list.last_mut() {
                    Some(last) if last.1 == offset => last.1 = offset + len,
                    _ => list.push((offset, offset + len)),
                }
            }
            c
        })
        .collect()
}
