//! The `verbatim` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bot_adapter::sim::{self, Impairments, MeetingSpec, SimParticipant};
use clap::{Parser, Subcommand};
use media_core::{MediaTime, Msi};
use verbatim::metadata::CallInfo;
use verbatim::record::{record_simulation, RecordOptions};

#[derive(Parser)]
#[command(
    name = "verbatim",
    version,
    about = "Compliance-grade recording of Teams calls"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record a meeting: a simulated one (--simulate) or one made of participant files (--source).
    Record(RecordArgs),
}

#[derive(clap::Args)]
struct RecordArgs {
    /// Simulate a meeting of synthetic speakers (no input files needed).
    #[arg(long, conflicts_with = "source")]
    simulate: bool,
    /// Number of synthetic participants with --simulate.
    #[arg(long, default_value_t = 4)]
    participants: usize,
    /// Length of the simulated call (e.g. 30s, 2m); with --source, defaults to the longest input.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<MediaTime>,
    /// A participant from a file: NAME=PATH (WAV, FLAC, MP3, AAC/MP4, Ogg Vorbis). Repeat for each.
    #[arg(long, value_name = "NAME=PATH")]
    source: Vec<String>,
    /// Network/platform impairments, e.g. `teams-x3` or `jitter=90ms,loss=3%,dup=1%,drift=200ppm`.
    #[arg(long, default_value = "none")]
    impair: String,
    /// Seed for the simulation and impairments.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Pace the meeting in real time (default: as fast as the machine allows).
    #[arg(long)]
    realtime: bool,
    /// How long a frame may wait for missing earlier frames (e.g. 200ms).
    #[arg(long, value_parser = parse_duration, default_value = "200ms")]
    late_window: MediaTime,
    /// Output folder (created).
    #[arg(long)]
    out: PathBuf,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
}

fn parse_duration(s: &str) -> Result<MediaTime, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(MediaTime::from_ticks(
        (d.as_nanos() / 100).min(i64::MAX as u128) as i64,
    ))
}

fn file_participants(sources: &[String]) -> Result<Vec<SimParticipant>> {
    let mut out = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let Some((name, path)) = s.split_once('=') else {
            bail!("--source {s:?}: expected NAME=PATH");
        };
        if name.is_empty() || path.is_empty() {
            bail!("--source {s:?}: expected NAME=PATH");
        }
        let audio = sim::load_audio_file(std::path::Path::new(path))
            .with_context(|| format!("--source {name}"))?;
        out.push(SimParticipant {
            name: name.to_string(),
            id: format!("8:orgid:{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1),
            display_name: name.to_string(),
            msi: Msi(1000 + i as u32),
            audio: Arc::from(audio),
            join_at: MediaTime::ZERO,
            leave_at: None,
            is_guest: false,
        });
    }
    Ok(out)
}

fn record(a: RecordArgs) -> Result<()> {
    let impairments: Impairments = a.impair.parse().context("--impair")?;
    let (participants, source) = if a.simulate {
        if a.participants == 0 {
            bail!("--participants must be at least 1");
        }
        let d = a.duration.unwrap_or(MediaTime::from_secs(30));
        (
            sim::synthetic::participants(a.participants, d, a.seed),
            "simulation",
        )
    } else if !a.source.is_empty() {
        (file_participants(&a.source)?, "files")
    } else {
        bail!("say what to record: --simulate, or --source NAME=PATH (repeatable)");
    };
    let duration = if a.simulate {
        Some(a.duration.unwrap_or(MediaTime::from_secs(30)))
    } else {
        a.duration
    };
    let spec = MeetingSpec {
        participants,
        duration,
        seed: a.seed,
        impairments,
    };
    let mut opts = RecordOptions::new(&a.out);
    opts.realtime = a.realtime;
    opts.progress = !a.quiet;
    opts.recorder.track.late_window = a.late_window;
    opts.call = CallInfo {
        id: format!("sim-{:016x}", a.seed),
        source: source.into(),
        impairments: Some(impairments.to_string()),
        seed: Some(a.seed),
    };
    let o = record_simulation(spec, &opts)?;
    let s = &o.summary;
    println!(
        "recorded {:.2} s, {} participants, into {} in {:.2} s ({:.0}x real time)",
        s.duration.as_secs_f64(),
        s.participants.len(),
        o.out.display(),
        o.elapsed.as_secs_f64(),
        s.duration.as_secs_f64() / o.elapsed.as_secs_f64().max(1e-9)
    );
    for p in &s.participants {
        let st = &p.stats;
        println!(
            "  {:<12} written {:>6}  late {:>4}  dup {:>4}  gaps {:>4}  drift {:+.0} ppm",
            p.info.name,
            st.written,
            st.late,
            st.duplicates,
            p.gaps.len(),
            p.drift_ppm
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Record(a) => record(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verbatim: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
