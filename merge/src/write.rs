//! Writing the merged folder through the signed recording writer: stems, `mixed.wav`, videos,
//! `metadata.json` and `provenance.json`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use bytes::Bytes;
use media_core::{AudioFormat, MediaTime};
use muxer::fmp4::samples::length_prefixed_to_annexb;
use muxer::fmp4::TrackSpec;
use muxer::{RecordingOptions, RecordingWriter, Status};
use serde_json::{json, Value};

use codecs::composite::CompositorConfig;
use recorder::composite::CompositeSource;

use crate::audio::{self, LegAudio, Piece};
use crate::plan::{load, start_ms, Planned};
use crate::playback;
use crate::provenance::{self, hex, ProvParticipant, ProvSource, ProvVideo, Provenance};
use crate::source::{loss_gaps, samples_to_us};
use crate::spans::{self, Span};
use crate::video::{self, LegVideo, TIMESCALE};
use crate::{MergeError, MergeOptions, MergeReport, ParticipantReport, SourceReport, VideoReport};

/// Samples per `write_pcm` call (1 s at 16 kHz).
const CHUNK: usize = 16_000;

/// A name not yet in `used` (`name`, `name-2`, …), recorded as used.
fn unique(used: &mut HashSet<String>, name: &str) -> String {
    let mut n = name.to_string();
    let mut k = 2;
    while !used.insert(n.clone()) {
        n = format!("{name}-{k}");
        k += 1;
    }
    n
}

/// The merged ledger of one participant: inside its presence, what no chosen span covers, split into
/// `inferred_loss` (a leg recording then lost it too), `nothing_sent` (every leg recording then heard
/// nothing) and `not_recorded` (no leg was recording).
fn merged_gaps(
    p: &Planned,
    members: &[(usize, usize)],
    legs_pieces: &[Piece],
    covered: &[Span],
) -> (Span, Vec<(Span, &'static str)>) {
    let mut presence = Vec::new();
    let mut losses = Vec::new();
    let mut recording = Vec::new();
    for (k, &(s, i)) in members.iter().enumerate() {
        let src = &p.sources[s];
        let part = &src.participants[i];
        // The leg's own offset for this participant: its first voted piece, else the leg's global one.
        let off = legs_pieces
            .iter()
            .find(|x| x.leg == k && x.voted)
            .map_or(p.global[s], |x| x.offset)
            + p.shift;
        presence.extend(spans::shift(&[part.presence], off));
        losses.extend(spans::shift(&loss_gaps(part), off));
        recording.extend(spans::shift(&[(0, src.duration)], p.global[s] + p.shift));
    }
    let presence = spans::normalize(presence);
    let bounds = (
        presence.first().map_or(0, |s| s.0),
        presence.last().map_or(0, |s| s.1),
    );
    let holes = spans::subtract(
        &[bounds]
            .iter()
            .copied()
            .filter(|b| b.0 < b.1)
            .collect::<Vec<_>>(),
        covered,
    );
    let losses = spans::normalize(losses);
    let recording = spans::normalize(recording);
    let mut gaps: Vec<(Span, &'static str)> = Vec::new();
    let lost = spans::intersect(&holes, &losses);
    let rest = spans::subtract(&holes, &lost);
    let quiet = spans::intersect(&rest, &recording);
    let unrecorded = spans::subtract(&rest, &quiet);
    gaps.extend(lost.into_iter().map(|s| (s, "inferred_loss")));
    gaps.extend(quiet.into_iter().map(|s| (s, "nothing_sent")));
    gaps.extend(unrecorded.into_iter().map(|s| (s, "not_recorded")));
    gaps.sort_unstable();
    (bounds, gaps)
}

pub(crate) fn write(
    p: &Planned,
    out: &Path,
    opts: &MergeOptions,
) -> Result<MergeReport, MergeError> {
    let rate = p.sample_rate;
    let reference = &p.sources[0];
    let shift_ms = p.shift * 1000 / i64::from(rate);
    let start = start_ms(reference)? - shift_ms;
    // One `syncfs` round per durability point for all the folder's files (as `record` does), instead of an
    // fsync per file; where the file system refuses `syncfs` (or off Linux), per-file fsyncs.
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let commit = std::fs::create_dir_all(parent).ok().and_then(|()| {
        muxer::group_commit::GroupCommit::start(
            std::sync::Arc::new(muxer::storage::StdStorage),
            parent,
            muxer::group_commit::GroupCommitOptions::default(),
        )
        .ok()
    });
    let mut w = RecordingWriter::create(
        out,
        opts.signing_key.clone(),
        RecordingOptions::new(&reference.call_id, start),
    )?;
    if let Some(c) = &commit {
        w.use_group_commit(c.handle());
    }
    let format = AudioFormat {
        sample_rate: rate,
        channels: 1,
    };
    let len = p.duration as usize;
    let mut mix = vec![0i32; len];
    let mut used = HashSet::new();
    let mut prov_parts = Vec::new();
    let mut meta_parts = Vec::new();
    let mut reports = Vec::new();
    let mut name_in_source: HashMap<(usize, String), String> = HashMap::new();
    for (g, pieces) in p.groups.iter().zip(&p.pieces) {
        let legs: Vec<LegAudio> = load(&p.sources, g)?;
        let chosen = audio::choose(&legs, pieces, p.shift);
        let stem = audio::render(&legs, &chosen.spans, p.duration);
        for (m, &x) in mix.iter_mut().zip(&stem) {
            *m += i32::from(x);
        }
        let (s0, i0) = g.members[0];
        let first = &p.sources[s0].participants[i0];
        let name = unique(&mut used, &first.name);
        for &(s, i) in &g.members {
            name_in_source.insert((s, p.sources[s].participants[i].name.clone()), name.clone());
        }
        let file = format!("participants/{name}.wav");
        let id = w.add_wav(&file, format)?;
        for c in stem.chunks(CHUNK) {
            w.write_pcm(id, c)?;
        }
        let covered = spans::normalize(
            chosen
                .spans
                .iter()
                .map(|s| (s.start, s.start + s.len))
                .collect(),
        );
        let (presence, gaps) = merged_gaps(p, &g.members, pieces, &covered);
        let n = p.sources.len();
        let mut from = vec![0u64; n];
        for s in &chosen.spans {
            if let Some(f) = from.get_mut(s.source) {
                *f += s.len;
            }
        }
        let mut held_by = vec![0u64; n];
        let mut lost_by = vec![0u64; n];
        let mut files = vec![None; n];
        for (leg, &(s, i)) in legs.iter().zip(&g.members) {
            held_by[s] = spans::total(&leg.held);
            let part = &p.sources[s].participants[i];
            let pres = spans::normalize(vec![part.presence]);
            lost_by[s] = spans::total(&spans::intersect(&loss_gaps(part), &pres));
            files[s] = Some(part.stem.clone());
        }
        let total_of = |kind: &str| -> u64 {
            gaps.iter()
                .filter(|g| g.1 == kind)
                .map(|g| g.0 .1 - g.0 .0)
                .sum()
        };
        let us = |s: u64| samples_to_us(s, rate);
        meta_parts.push(json!({
            "name": name,
            "id": first.id,
            "display_name": first.display_name,
            "joined_us": us(presence.0),
            "left_us": us(presence.1),
            "samples_written": spans::total(&covered),
            "frames_written": spans::total(&covered) / audio::FRAME,
            "losses": {
                "inferred_loss_us": us(total_of("inferred_loss")),
                "nothing_sent_us": us(total_of("nothing_sent")),
                "not_recorded_us": us(total_of("not_recorded")),
            },
            "gaps": gaps.iter().map(|(s, k)| json!({"start_us": us(s.0), "length_us": us(s.1 - s.0), "kind": k})).collect::<Vec<_>>(),
            "from_legs": from.iter().enumerate().map(|(k, &x)| json!({"source": k, "samples": x, "held": held_by[k], "lost": lost_by[k]})).collect::<Vec<_>>(),
            "disagreement": {
                "frames": chosen.disagreeing_frames,
                "samples": chosen.disagreeing_samples,
                "compared_samples": chosen.compared_samples,
            },
        }));
        prov_parts.push(ProvParticipant {
            file: file.clone(),
            name: name.clone(),
            source_files: files,
            spans: chosen
                .spans
                .iter()
                .map(|s| [s.start, s.len, s.source as u64, s.source_start])
                .collect(),
        });
        reports.push(ParticipantReport {
            name,
            from_source: from,
            held_by_source: held_by,
            lost_by_source: lost_by,
            lost_samples: total_of("inferred_loss"),
            disagreeing_frames: chosen.disagreeing_frames,
            disagreeing_samples: chosen.disagreeing_samples,
            compared_samples: chosen.compared_samples,
        });
    }
    let mut clipped = 0u64;
    let mixed: Vec<i16> = mix
        .into_iter()
        .map(|x| {
            let c = x.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
            clipped += u64::from(c != x);
            c as i16
        })
        .collect();
    let mid = w.add_wav("mixed.wav", format)?;
    for c in mixed.chunks(CHUNK) {
        w.write_pcm(mid, c)?;
    }
    let (videos_meta, prov_videos, video_reports, streams) =
        write_videos(p, &mut w, &mut used, &name_in_source)?;
    // recording.mp4: tiles in joining order.
    let mut joined: Vec<(u64, String)> = meta_parts
        .iter()
        .map(|m| {
            (
                m["joined_us"].as_u64().unwrap_or(0),
                m["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    joined.sort();
    let tile_of = |name: &str| joined.iter().position(|j| j.1 == name);
    let mut comp_streams = Vec::new();
    for (name, frames) in streams {
        let source = match name {
            None => CompositeSource::ScreenShare,
            Some(n) => match tile_of(&n) {
                Some(i) => CompositeSource::Camera(i),
                None => continue,
            },
        };
        comp_streams.push(playback::Stream { source, frames });
    }
    let dominant_named = dominant_changes(p, &name_in_source);
    let dominant = dominant_named
        .iter()
        .map(|(t, n)| (*t, n.as_deref().and_then(tile_of)))
        .collect();
    let has_video = !comp_streams.is_empty();
    let pstats = playback::write(
        &mut w,
        playback::Inputs {
            mixed: &mixed,
            format,
            participants: joined
                .iter()
                .map(|(t, n)| (MediaTime::from_micros(*t as i64), n.clone()))
                .collect(),
            streams: comp_streams,
            dominant,
            composite: (opts.composite && has_video).then(|| CompositorConfig {
                layout: opts.layout,
                ..CompositorConfig::default()
            }),
        },
        MediaTime::from_micros(samples_to_us(p.duration, rate) as i64),
    )?;
    drop(mixed);
    let sources: Vec<ProvSource> = p
        .sources
        .iter()
        .enumerate()
        .map(|(k, s)| ProvSource {
            folder: s.label.clone(),
            leg: s.leg.clone(),
            status: s.status.clone(),
            manifest_sha256: hex(&s.manifest_sha256),
            key_id: s.key_id.clone(),
            offset_samples: p.global[k] + p.shift,
            aligned_by: p.aligned_by[k].to_string(),
        })
        .collect();
    let duration_us = samples_to_us(p.duration, rate);
    let metadata = json!({
        "format_version": 1,
        "recorder": {"name": "verbatim", "version": env!("CARGO_PKG_VERSION")},
        "call": {
            "id": reference.call_id,
            "source": "merge",
            "merged_from": sources,
        },
        "recording": {
            "status": "completed",
            "duration_us": duration_us,
            "sample_rate": rate,
            "channels": 1,
            "started_utc": recorder::metadata::utc(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(start.max(0) as u64),
                MediaTime::ZERO,
            ),
            "clock_source": "the reference leg's (the first folder given), moved to the earliest leg's start",
            "mix_clipped_samples": clipped,
            "composite_frames": pstats.video_frames,
            "composite_decode_errors": pstats.decode_errors,
            "opus_packets": pstats.audio_packets,
            "merge_rule": provenance::RULE,
        },
        "participants": meta_parts,
        "videos": videos_meta,
        "dominant_speakers": dominant_named
            .iter()
            .map(|(t, n)| json!({"at_us": t.ticks() / 10, "participant": n}))
            .collect::<Vec<_>>(),
    });
    let prov = Provenance {
        format: provenance::FORMAT.to_string(),
        call_id: reference.call_id.clone(),
        sample_rate: rate,
        rule: provenance::RULE.to_string(),
        sources,
        participants: prov_parts,
        videos: prov_videos,
    };
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).unwrap_or_default();
    w.write_whole_file("metadata.json", &pretty(&metadata))?;
    let prov_bytes =
        serde_json::to_vec(&prov).map_err(|e| MergeError::Provenance(e.to_string()))?;
    w.write_whole_file(provenance::PROVENANCE_FILE, &prov_bytes)?;
    let note = format!(
        "merged from {} leg folders ({}); provenance.json names every span's leg",
        p.sources.len(),
        p.sources
            .iter()
            .map(|s| format!("{} leg {} {}", s.label, s.leg, s.status))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let summary = w.finish(
        Status::Completed,
        MediaTime::from_micros(duration_us as i64),
        &note,
    )?;
    if !summary.close_errors.is_empty() {
        return Err(MergeError::Incompatible(format!(
            "closing the merged folder: {}",
            summary.close_errors.join("; ")
        )));
    }
    Ok(MergeReport {
        out: out.to_path_buf(),
        sources: p
            .sources
            .iter()
            .enumerate()
            .map(|(k, s)| SourceReport {
                label: s.label.clone(),
                leg: s.leg.clone(),
                status: s.status.clone(),
                offset: p.global[k] + p.shift,
                aligned_by: p.aligned_by[k],
            })
            .collect(),
        participants: reports,
        videos: video_reports,
        duration: p.duration,
        sample_rate: rate,
    })
}

/// A merged stream for the composite: its participant's merged name (`None`: the screen share) and frames.
type CompositeInput = (Option<String>, Vec<(MediaTime, Bytes)>);
type VideoOut = (
    Vec<Value>,
    Vec<ProvVideo>,
    Vec<VideoReport>,
    Vec<CompositeInput>,
);

/// Dominant-speaker changes on the merged timeline (merged participant names): each leg's, where no
/// earlier leg was recording.
fn dominant_changes(
    p: &Planned,
    names: &HashMap<(usize, String), String>,
) -> Vec<(MediaTime, Option<String>)> {
    let rate = p.sample_rate;
    let mut covered: Vec<Span> = Vec::new();
    let mut out = Vec::new();
    for (s, src) in p.sources.iter().enumerate() {
        let off = p.global[s] + p.shift;
        let span = spans::shift(&[(0, src.duration)], off);
        for d in src.metadata["dominant_speakers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(at) = d["at_us"].as_i64() else {
                continue;
            };
            let t = crate::source::us_to_samples(at, rate) as i64 + off;
            let Ok(t) = u64::try_from(t) else { continue };
            if covered.iter().any(|c| c.0 <= t && t < c.1) {
                continue;
            }
            let who = d["participant"].as_str().map(|n| {
                names
                    .get(&(s, n.to_string()))
                    .cloned()
                    .unwrap_or_else(|| n.to_string())
            });
            out.push((MediaTime::from_micros(samples_to_us(t, rate) as i64), who));
        }
        covered = spans::normalize([covered, span].concat());
    }
    out.sort_by_key(|d| d.0);
    out
}

/// Every video stream (by MSI), merged by GOP and written.
fn write_videos(
    p: &Planned,
    w: &mut RecordingWriter,
    used: &mut HashSet<String>,
    names: &HashMap<(usize, String), String>,
) -> Result<VideoOut, MergeError> {
    let mut order: Vec<u64> = Vec::new();
    let mut by_msi: HashMap<u64, Vec<(usize, usize)>> = HashMap::new();
    for (s, src) in p.sources.iter().enumerate() {
        for (i, v) in src.videos.iter().enumerate() {
            let e = by_msi.entry(v.msi).or_default();
            if e.is_empty() {
                order.push(v.msi);
            }
            e.push((s, i));
        }
    }
    let (mut meta, mut prov, mut reports, mut streams) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let rate = i64::from(p.sample_rate.max(1));
    for msi in order {
        let members = by_msi.get(&msi).cloned().unwrap_or_default();
        let mut legs = Vec::new();
        for &(s, i) in &members {
            let src = &p.sources[s];
            let v = &src.videos[i];
            let off = (p.global[s] + p.shift) * TIMESCALE as i64 / rate;
            legs.push(LegVideo::read(&src.dir, &v.path, s, off)?);
        }
        let plan = video::plan(&legs);
        let (s0, i0) = members[0];
        let v0 = &p.sources[s0].videos[i0];
        // The merged participant's name for a camera (its merged stem's name), the leg's path otherwise.
        let path = match &v0.participant {
            Some(n) if v0.path.starts_with("participants/") => {
                let merged = names
                    .get(&(s0, n.clone()))
                    .cloned()
                    .unwrap_or_else(|| n.clone());
                let tail = v0
                    .path
                    .trim_start_matches("participants/")
                    .trim_end_matches(".mp4")
                    .strip_prefix(n.as_str())
                    .unwrap_or("")
                    .to_string();
                unique(used, &format!("participants/{merged}{tail}.mp4"))
            }
            _ => unique(used, &v0.path),
        };
        let id = w.add_mp4(&path, &[TrackSpec::h264()])?;
        let mut refused = 0u64;
        let mut frames = Vec::with_capacity(plan.frames.len());
        for &(leg, i, t) in &plan.frames {
            let Some(l) = legs.get(leg) else { continue };
            let Some(sample) = l.samples.get(i) else {
                continue;
            };
            let stored = l.bytes.get(sample.range.clone()).unwrap_or_default();
            let Some(annexb) = length_prefixed_to_annexb(stored) else {
                refused += 1;
                continue;
            };
            let pts = MediaTime::from_ticks(
                (t as i128 * 10_000_000 / i128::from(TIMESCALE as i64)) as i64,
            );
            let data = Bytes::from(annexb);
            match w.write_sample(id, 0, pts, data.clone()) {
                Ok(()) => frames.push((pts, data)),
                Err(muxer::RecordingError::Mp4 { .. }) => refused += 1,
                Err(e) => return Err(e.into()),
            }
        }
        let best = legs
            .iter()
            .map(|l| l.samples.len() as u64)
            .max()
            .unwrap_or(0);
        meta.push(json!({
            "path": path,
            "msi": msi,
            "kind": v0.kind,
            "participant": v0.participant.as_ref().and_then(|n| names.get(&(s0, n.clone()))),
            "frames_written": plan.frames.len() as u64 - refused,
            "best_leg_frames": best,
            "gops_shared": plan.gops_shared,
            "gops_single": plan.gops_single,
            "gops_from_later_legs": plan.gops_from_later_legs,
            "overlap_dropped": plan.overlap_dropped,
            "refused_by_muxer": refused,
        }));
        reports.push(VideoReport {
            path: path.clone(),
            frames: plan.frames.len() as u64 - refused,
            best_leg_frames: best,
            gops_from_later_legs: plan.gops_from_later_legs,
            overlap_dropped: plan.overlap_dropped,
        });
        prov.push(ProvVideo {
            file: path,
            spans: plan.spans,
        });
        let owner = if v0.kind == "video" {
            v0.participant.as_ref().map(|n| {
                names
                    .get(&(s0, n.clone()))
                    .cloned()
                    .unwrap_or_else(|| n.clone())
            })
        } else {
            None
        };
        if v0.kind == "video" && owner.is_none() {
            continue;
        }
        streams.push((owner, frames));
    }
    Ok((meta, prov, reports, streams))
}
