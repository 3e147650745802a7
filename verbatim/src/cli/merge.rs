//! `verbatim merge`: one recording of a call from the folders of its redundant recorders (see the `merge`
//! crate), and the provenance part of `verbatim verify --leg`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

/// `verbatim merge LEG_A LEG_B … --out DIR`.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// The leg folders of one call (two legs, and any folders a reconnect continued into). The first is
    /// the reference: its timeline is the merged one, and where legs hold equally much it is preferred.
    #[arg(required = true, num_args = 1..)]
    pub legs: Vec<PathBuf>,
    /// Output folder (created; must not hold a recording).
    #[arg(long)]
    pub out: PathBuf,
    /// Sign with this key file (default: the installation's key).
    #[arg(long)]
    pub signing_key: Option<PathBuf>,
    /// Do not rebuild the composite meeting video (`recording.mp4` then holds the merged mix only).
    #[arg(long)]
    pub no_composite: bool,
    /// Composite layout: grid, speaker or screenshare.
    #[arg(long, default_value = "grid", value_parser = recorder::composite::parse_layout)]
    pub layout: codecs::composite::Layout,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `merge`.
///
/// # Errors
/// Anything the merge refuses (unclosed or incompatible folders, I/O).
pub fn run(a: MergeArgs) -> Result<()> {
    let (key, _) = verbatim::keys::signing_key(a.signing_key.as_deref())?;
    let started = std::time::Instant::now();
    let mut opts = merge::MergeOptions::new(key);
    opts.composite = !a.no_composite;
    opts.layout = a.layout;
    let r = merge::merge_folders(&a.legs, &a.out, &opts)
        .with_context(|| format!("merging into {}", a.out.display()))?;
    let secs = started.elapsed().as_secs_f64();
    let rate = f64::from(r.sample_rate.max(1));
    if a.json {
        let v = serde_json::json!({
            "out": r.out,
            "duration_s": r.duration as f64 / rate,
            "merge_seconds": secs,
            "sources": r.sources.iter().map(|s| serde_json::json!({
                "folder": s.label, "leg": s.leg, "status": s.status,
                "offset_s": s.offset as f64 / rate, "aligned_by": s.aligned_by,
            })).collect::<Vec<_>>(),
            "participants": r.participants.iter().map(|p| serde_json::json!({
                "name": p.name, "from_source": p.from_source, "held_by_source": p.held_by_source,
                "lost_by_source": p.lost_by_source, "lost_samples": p.lost_samples,
                "disagreeing_frames": p.disagreeing_frames, "disagreeing_samples": p.disagreeing_samples,
                "compared_samples": p.compared_samples,
            })).collect::<Vec<_>>(),
            "videos": r.videos.iter().map(|v| serde_json::json!({
                "path": v.path, "frames": v.frames, "best_leg_frames": v.best_leg_frames,
                "gops_from_later_legs": v.gops_from_later_legs, "overlap_dropped": v.overlap_dropped,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "merged {} folders into {} ({:.2} s of call) in {secs:.2} s",
        r.sources.len(),
        r.out.display(),
        r.duration as f64 / rate
    );
    for (k, s) in r.sources.iter().enumerate() {
        println!(
            "  [{k}] {:<24} leg {:<3} {:<12} offset {:+.4} s ({})",
            s.label,
            s.leg,
            s.status,
            s.offset as f64 / rate,
            s.aligned_by
        );
    }
    for p in &r.participants {
        let secs = |x: u64| x as f64 / rate;
        let from: Vec<String> = p
            .from_source
            .iter()
            .enumerate()
            .map(|(k, &x)| format!("[{k}] {:.1} s", secs(x)))
            .collect();
        let lost: Vec<String> = p
            .lost_by_source
            .iter()
            .enumerate()
            .map(|(k, &x)| format!("[{k}] {:.2} s", secs(x)))
            .collect();
        println!(
            "  {:<12} from {}; lost per leg {}; lost in all legs {:.2} s; legs disagree on {} frames",
            p.name,
            from.join(", "),
            lost.join(", "),
            secs(p.lost_samples),
            p.disagreeing_frames
        );
    }
    for v in &r.videos {
        println!(
            "  {:<28} {} frames (best single leg {}), {} GOPs from later legs",
            v.path, v.frames, v.best_leg_frames, v.gops_from_later_legs
        );
    }
    Ok(())
}

/// The provenance check of `verify DIR --leg A --leg B`: every leg intact (by its embedded key: the merged
/// folder's signature vouches for their manifests' hashes) and every merged span equal to its source.
/// Returns `Some(exit code)` on failure.
///
/// # Errors
/// Unreadable folders.
pub fn verify_legs(merged: &Path, legs: &[PathBuf]) -> Result<Option<ExitCode>> {
    use muxer::verify::{verify_dir_trusting, Trust};
    for l in legs {
        match verify_dir_trusting(l, Trust::EmbeddedKey) {
            Ok(r) => println!("leg {}: {}", l.display(), r.summary),
            Err(e) => {
                eprintln!("verbatim: leg {}: NOT INTACT: {e}", l.display());
                return Ok(Some(ExitCode::FAILURE));
            }
        }
    }
    let c = merge::check_provenance(merged, legs)?;
    println!(
        "provenance: {} legs matched by manifest hash; {} audio spans ({} samples) and {} video spans ({} frames) \
         compared with their legs: {} mismatches, {} unattributed samples",
        c.sources_matched, c.audio_spans, c.audio_samples, c.video_spans, c.video_frames, c.mismatches,
        c.unattributed_samples
    );
    for p in &c.problems {
        eprintln!("verbatim: provenance: {p}");
    }
    Ok((!c.ok()).then_some(ExitCode::FAILURE))
}
