//! Reading the leg folders, grouping their participants and aligning the legs: everything decided before
//! a byte of the merged folder is written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::align::{decide, Index};
use crate::audio::{self, LegAudio, Piece};
use crate::source::{held, Source};
use crate::{MergeError, MergeOptions, MergeReport};

/// Votes the offset between two legs needs for the whole call.
const MIN_GLOBAL_VOTES: u32 = 8;

/// One participant across the legs: `(source, index in that source's participants)`, in source order.
pub(crate) struct Group {
    pub members: Vec<(usize, usize)>,
}

/// Everything decided before writing.
pub(crate) struct Planned {
    pub sources: Vec<Source>,
    pub groups: Vec<Group>,
    /// Per group, its legs' pieces (before the shift).
    pub pieces: Vec<Vec<Piece>>,
    /// Per source, its offset for the whole call (before the shift), and how it was found.
    pub global: Vec<i64>,
    pub aligned_by: Vec<&'static str>,
    /// Added to every offset so the merged timeline starts at 0.
    pub shift: i64,
    /// Samples of the merged recording.
    pub duration: u64,
    pub sample_rate: u32,
}

/// Participants matched across legs by their AAD id (by name when a leg has no id).
fn groups(sources: &[Source]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for (s, src) in sources.iter().enumerate() {
        for (i, p) in src.participants.iter().enumerate() {
            let key = if p.id.is_empty() {
                format!("name:{}", p.name)
            } else {
                format!("id:{}", p.id)
            };
            let g = *by_key.entry(key).or_insert_with(|| {
                out.push(Group {
                    members: Vec::new(),
                });
                out.len() - 1
            });
            if let Some(g) = out.get_mut(g) {
                if !g.members.iter().any(|m| m.0 == s) {
                    g.members.push((s, i));
                }
            }
        }
    }
    out
}

/// The stems of a group's members, read.
pub(crate) fn load(sources: &[Source], g: &Group) -> Result<Vec<LegAudio>, MergeError> {
    g.members
        .iter()
        .map(|&(s, i)| {
            let src = &sources[s];
            let p = &src.participants[i];
            let samples = src.read_stem(p)?;
            let held = held(&samples);
            Ok(LegAudio {
                source: s,
                samples,
                held,
            })
        })
        .collect()
}

/// Each source's offset for the whole call: the reference (first) is 0; every other is aligned by content
/// with an earlier one, else by the wall clock of its first buffer.
fn global_offsets(
    sources: &[Source],
    groups: &[Group],
) -> Result<(Vec<i64>, Vec<&'static str>), MergeError> {
    let n = sources.len();
    let mut global = vec![0i64; n];
    let mut how = vec!["reference"; n];
    for k in 1..n {
        let mut found = None;
        for j in 0..k {
            // Each participant's offset on its own (legs anchor each sender on their own, so they differ
            // by a few milliseconds); the call's is their median.
            let mut per_participant = Vec::new();
            for g in groups {
                let (Some(&(_, pj)), Some(&(_, pk))) = (
                    g.members.iter().find(|m| m.0 == j),
                    g.members.iter().find(|m| m.0 == k),
                ) else {
                    continue;
                };
                let (sj, sk) = (&sources[j], &sources[k]);
                let (aj, ak) = (
                    sj.read_stem(&sj.participants[pj])?,
                    sk.read_stem(&sk.participants[pk])?,
                );
                let mut index = Index::default();
                index.add(&aj, &held(&aj), 0);
                index.seal();
                let mut votes = HashMap::new();
                index.votes(&ak, &held(&ak), None, &mut votes);
                if let Some((off, _)) = decide(&votes, 0, MIN_GLOBAL_VOTES) {
                    per_participant.push(off);
                }
            }
            per_participant.sort_unstable();
            if let Some(&m) = per_participant.get(per_participant.len() / 2) {
                found = Some(global[j] + m);
                break;
            }
        }
        match found {
            Some(off) => {
                global[k] = off;
                how[k] = "content";
            }
            None => {
                let (a, b) = (start_ms(&sources[0])?, start_ms(&sources[k])?);
                global[k] = (b - a).saturating_mul(i64::from(sources[0].sample_rate)) / 1000;
                how[k] = "wall_clock";
            }
        }
    }
    Ok((global, how))
}

/// The manifest's `start_utc_ms` of a source.
pub(crate) fn start_ms(s: &Source) -> Result<i64, MergeError> {
    s.start_utc_ms.ok_or_else(|| MergeError::BadSource {
        path: s.dir.join(muxer::recording::MANIFEST_FILE),
        reason: "no start_utc_ms".into(),
    })
}

/// Reads, checks and aligns the leg folders `dirs` (the first is the reference: its timeline, and ties go
/// to earlier folders).
pub(crate) fn plan(dirs: &[PathBuf]) -> Result<Planned, MergeError> {
    let Some(first) = dirs.first() else {
        return Err(MergeError::Incompatible("no leg folders given".into()));
    };
    let sources = dirs
        .iter()
        .map(|d| Source::open(d))
        .collect::<Result<Vec<_>, _>>()?;
    let (call, rate) = (&sources[0].call_id, sources[0].sample_rate);
    for s in &sources[1..] {
        if &s.call_id != call {
            return Err(MergeError::Incompatible(format!(
                "{} records call {:?}, {} records call {:?}",
                first.display(),
                call,
                s.dir.display(),
                s.call_id
            )));
        }
        if s.sample_rate != rate {
            return Err(MergeError::Incompatible(format!(
                "{} has {} Hz stems, {} has {} Hz",
                first.display(),
                rate,
                s.dir.display(),
                s.sample_rate
            )));
        }
    }
    let groups = groups(&sources);
    let (global, aligned_by) = global_offsets(&sources, &groups)?;
    let mut pieces = Vec::with_capacity(groups.len());
    let mut min_start = global.iter().copied().min().unwrap_or(0).min(0);
    for g in &groups {
        let legs = load(&sources, g)?;
        let offs: Vec<i64> = legs.iter().map(|l| global[l.source]).collect();
        let p = audio::align(&legs, &offs);
        for x in &p {
            min_start = min_start.min(x.span.0 as i64 + x.offset);
        }
        pieces.push(p);
    }
    let shift = -min_start;
    let mut duration = 0u64;
    for (s, src) in sources.iter().enumerate() {
        duration = duration.max((src.duration as i64 + global[s] + shift).max(0) as u64);
    }
    for p in pieces.iter().flatten() {
        duration = duration.max((p.span.1 as i64 + p.offset + shift).max(0) as u64);
    }
    Ok(Planned {
        sources,
        groups,
        pieces,
        global,
        aligned_by,
        shift,
        duration,
        sample_rate: rate,
    })
}

/// Merges the leg folders `legs` of one call into a new signed folder `out` (see the [crate docs](crate)).
/// The first folder is the reference: the merged timeline is its own, moved only if another leg started
/// earlier; where legs hold equally much, the earlier folder is preferred.
///
/// # Errors
/// [`MergeError::BadSource`] for a folder that is not a closed recording (recover a crashed one first),
/// [`MergeError::Incompatible`] for folders of different calls or sample rates, [`MergeError::Io`] and
/// [`MergeError::Write`] for I/O failures (the merged folder is then left unsigned: remove it).
pub fn merge_folders(
    legs: &[PathBuf],
    out: &Path,
    opts: &MergeOptions,
) -> Result<MergeReport, MergeError> {
    let planned = plan(legs)?;
    crate::write::write(&planned, out, opts)
}
