//! The `verbatim` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use bot_adapter::sim::meeting::{MeetingKind, MAX_PARTICIPANTS};
use bot_adapter::sim::{self, Impairments, MeetingSpec};
use clap::{Parser, Subcommand};
use media_core::MediaTime;
use verbatim::metadata::CallInfo;

mod cli;
use verbatim::record::RecordOptions;

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
    /// Make a signing key pair (default: the installation's key) and print the public key.
    Keygen(KeygenArgs),
    /// Check a recording folder against its signed manifest (exit codes: 0 intact and signed by a trusted key,
    /// 1 not intact or unreadable, 2 usage error, 3 intact but the signer was not authenticated).
    #[command(after_help = VERIFY_CODES)]
    Verify(VerifyArgs),
    /// Close a recording folder left behind by a crash (status `interrupted`), then verify it. Refuses
    /// (exit 4) when a range signed while recording was altered, and never follows a symbolic link.
    #[command(after_help = RECOVER_CODES)]
    Recover(RecoverArgs),
    /// Show what a recording folder holds: status, participants, gaps, who spoke when (no verification).
    Inspect(InspectArgs),
    /// Serve the gRPC ingest service: every call a Teams bot streams in becomes a recording folder.
    Listen(cli::listen::ListenArgs),
    /// Stream simulated calls to a `listen` server, as a Teams bot would (the reference bot).
    Send(cli::send::SendArgs),
    /// Merge the folders of one call's redundant recorders (legs) into one signed recording: every frame
    /// from a leg that holds it, with per-span provenance (`verify MERGED --leg A --leg B` checks it).
    Merge(cli::merge::MergeArgs),
    /// Decrypt an encrypted recording folder (`--encrypt-to`) into plaintext files with an age identity;
    /// the folder is verified first (no key needed) and refused if it does not verify.
    Decrypt(cli::crypt::DecryptArgs),
    /// Set or release the legal hold (S3 Object Lock) of every object of a recording in a bucket:
    /// `hold set|release s3://BUCKET/PREFIX/<recording>`.
    Hold(cli::store::HoldArgs),
    /// The compliance console: search, review (player, speaker timeline, waveforms, verdict) and export
    /// recordings in a browser, with users, roles and an audit log (`docs/console.md`).
    Serve(cli::console::ServeArgs),
    /// Search the recordings under a root (its catalogue): one line per recording, starting with its folder.
    Search(cli::console::SearchArgs),
    /// The console's users and API tokens (`users add NAME --role viewer --root DIR`, password on stdin).
    Users(cli::console::UsersArgs),
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("enc").args(["encryption"]).requires("identity_file")))]
struct KeygenArgs {
    /// Make an encryption identity (age X25519) instead of a signing key: the private identity goes to
    /// --identity-file (mode 0600, never overwritten), the public recipient (`age1…`) to stdout, for
    /// `record`/`listen --encrypt-to`. Keep it off the recorder: it holds only the recipient.
    #[arg(long, conflicts_with_all = ["out", "force"])]
    encryption: bool,
    /// Where the encryption identity goes (with --encryption).
    #[arg(long, value_name = "FILE", requires = "encryption")]
    identity_file: Option<PathBuf>,
    /// Where to write the private key (default: the installation's key path).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing key file.
    #[arg(long)]
    force: bool,
}

const VERIFY_CODES: &str = "Exit codes:
  0  intact, signed by the key given (--public-key) or a key of the keyring in service when the recording
     started (--keyring), or by the embedded key when --trust-embedded-key says so
  1  not intact (altered, missing or added files, bad signatures), not trusted, or unreadable
  2  usage error
  3  intact, but no --public-key/--keyring was given: the signer is not authenticated (a warning says so)";

const RECOVER_CODES: &str = "Exit codes:
  0  closed (or already closed) and verified
  1  error (no recording, wrong or untrusted key, I/O)
  2  usage error
  4  refused: a range signed while recording differs from its signature, or a symbolic link is in the folder;
     nothing was changed (--accept-tampered seals it as it is and records that in the signed history)";

/// `verify`'s exit code when the folder is intact but no trusted key was given.
const EXIT_SIGNER_NOT_AUTHENTICATED: u8 = 3;
/// `recover`'s exit code when it refuses to seal altered signed ranges (or a symbolic link).
const EXIT_TAMPERED: u8 = 4;

#[derive(clap::Args)]
struct VerifyArgs {
    /// The recording folder, or a recording in a bucket: s3://BUCKET/PREFIX/<recording> (its object log is
    /// replayed into a temporary folder and verified there; a missing or replaced segment fails).
    dir: PathBuf,
    #[command(flatten)]
    endpoint: cli::store::EndpointArgs,
    /// Require the manifest to be signed by this public key (file written by `keygen`).
    #[arg(long, conflicts_with = "keyring")]
    public_key: Option<PathBuf>,
    /// Require the manifest to be signed by a key of this keyring, in service when the recording started
    /// (see muxer::integrity::keyring for the format).
    #[arg(long)]
    keyring: Option<PathBuf>,
    /// Without --public-key or --keyring, accept the key the manifest names (proves the folder unchanged
    /// since someone signed it, not who) and exit 0 instead of 3.
    #[arg(long, conflicts_with_all = ["public_key", "keyring"])]
    trust_embedded_key: bool,
    /// Check every RFC 3161 time-stamp token against this TSA certificate (PEM or DER): signed by it, for
    /// exactly the signed checkpoint. Without it, tokens are listed but not checked.
    #[arg(long, value_name = "CERT")]
    tsa_cert: Option<PathBuf>,
    /// A merged folder's leg folder (repeat for each): also check that each is intact and that every span
    /// of the merged folder equals, byte for byte, the span of the leg its provenance names.
    #[arg(long = "leg", value_name = "LEG_DIR")]
    legs: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct RecoverArgs {
    /// The recording folder, or a recording in a bucket whose recorder died (s3://BUCKET/PREFIX/<recording>):
    /// replayed, recovered, and uploaded as NEW objects under <recording>/recovered/ (nothing overwritten).
    dir: PathBuf,
    #[command(flatten)]
    endpoint: cli::store::EndpointArgs,
    /// The key to sign the closed manifest with (default: the installation's key).
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// Also require the recording's key to be this public key.
    #[arg(long, conflicts_with = "keyring")]
    public_key: Option<PathBuf>,
    /// Also require the recording's key to be in this keyring, in service when the recording started.
    #[arg(long)]
    keyring: Option<PathBuf>,
    /// Seal ranges that differ from their live signature as they are, instead of refusing; the altered
    /// ranges are listed in the signed manifest and reported by every later verify.
    #[arg(long)]
    accept_tampered: bool,
}

#[derive(clap::Args)]
struct InspectArgs {
    /// The recording folder.
    dir: PathBuf,
    /// Print the findings as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also write the speaker timeline (who spoke when, gaps by cause, pauses) as an SVG picture to FILE,
    /// the same picture as the console's.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RecordArgs {
    /// Simulate a meeting of synthetic speakers (no input files needed).
    #[arg(long, conflicts_with = "source")]
    simulate: bool,
    /// With --simulate: plan a realistic meeting (turn-taking, long silences, late joins, re-joins, mute):
    /// standup, townhall, one-on-one or panel. Seeded by --seed.
    #[arg(long, requires = "simulate", value_parser = parse_meeting)]
    meeting: Option<MeetingKind>,
    /// Number of synthetic participants with --simulate, at most 20 (default 4; with --meeting, the kind's:
    /// standup 6, townhall 12, one-on-one 2, panel 8).
    #[arg(long)]
    participants: Option<usize>,
    /// With --meeting: give participants cameras and share screens (synthetic H.264 clips, looped).
    #[arg(long, requires = "meeting")]
    video: bool,
    /// Length of the call (e.g. 30s, 2m, 1h); default 30s with --simulate, the kind's with --meeting (standup
    /// 15m, townhall 60m, one-on-one 30m, panel 45m); with --source, the longest input.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<MediaTime>,
    /// A participant from a file: NAME=PATH (WAV, FLAC, MP3, Ogg Vorbis, Ogg Opus; an MP4 clip gives the
    /// participant's camera video and audio). Repeat for each.
    #[arg(long, value_name = "NAME=PATH")]
    source: Vec<String>,
    /// A screen share (an H.264 MP4 clip), shared by the first participant from call start.
    #[arg(long, value_name = "PATH")]
    screenshare: Option<PathBuf>,
    /// Record the composite meeting video in recording.mp4 (default: when any video or screen share is present).
    #[arg(long, overrides_with = "no_composite")]
    composite: bool,
    /// Do not record the composite meeting video.
    #[arg(long)]
    no_composite: bool,
    /// Composite layout: grid, speaker (active speaker with filmstrip), screenshare (screen share with filmstrip).
    #[arg(long, default_value = "grid", value_parser = verbatim::composite::parse_layout)]
    layout: codecs::composite::Layout,
    /// Network/platform impairments, e.g. `teams-x3` or `jitter=90ms,loss=3%,dup=1%,drift=200ppm`.
    #[arg(long, default_value = "none")]
    impair: String,
    /// Seed for the simulation and impairments.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    leg: cli::leg::LegArgs,
    /// With --simulate: after recording, score the recording against what the simulator sent (exact copies,
    /// placement error, the loss ledger) and print the findings.
    #[arg(long, requires = "simulate")]
    audit: bool,
    /// Pace the meeting in real time (default: as fast as the machine allows).
    #[arg(long)]
    realtime: bool,
    /// Pause recording over a span of call time, START-END (e.g. 5s-9s, as `send --pause`), as a bot's
    /// Pause and Resume would: media written as silence, the pause in the signed status history and in
    /// metadata. Repeatable; spans in order, not overlapping.
    #[arg(long, value_name = "START-END", value_parser = parse_span)]
    pause: Vec<(MediaTime, MediaTime)>,
    /// How long a frame may wait for missing earlier frames (e.g. 200ms).
    #[arg(long, value_parser = parse_duration, default_value = "200ms")]
    late_window: MediaTime,
    /// Output folder (created).
    #[arg(long)]
    out: PathBuf,
    /// Sign with this key file (default: the installation's key, created on first use).
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// Time-stamp every signature checkpoint with this RFC 3161 time-stamping authority (HTTP URL); a TSA
    /// that is down never stops the recording (failures are counted in the final status note).
    #[arg(long, value_name = "URL")]
    tsa: Option<String>,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
    /// Fsync each file of the recording every second of media instead of one `syncfs` round of the output's
    /// file system for all of them (the default, as `listen`'s group commit: ~1 sync per round instead of ~9
    /// per second of media).
    #[arg(long)]
    fsync_per_file: bool,
    /// Encrypt every file of the recording to this age recipient (`age1…`, from `verbatim keygen
    /// --encryption`); repeatable. The recorder holds only public keys; `verbatim decrypt` restores the files.
    #[arg(long = "encrypt-to", value_name = "RECIPIENT")]
    encrypt_to: Vec<String>,
    /// Wall clock of recording time zero (Unix ms) instead of now: two recordings of the same simulated call
    /// are then byte-identical (tests).
    #[arg(long, hide = true)]
    start_utc_ms: Option<i64>,
    #[command(flatten)]
    store: cli::store::StoreArgs,
}

/// The group commit of `record`: its rounds `syncfs` the file system that will hold `out`.
fn start_group_commit(out: &std::path::Path) -> Result<muxer::group_commit::GroupCommit> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| parent.display().to_string())?;
    muxer::group_commit::GroupCommit::start(
        std::sync::Arc::new(muxer::storage::StdStorage),
        &parent,
        muxer::group_commit::GroupCommitOptions::default(),
    )
    .with_context(|| {
        format!(
            "{}: the file system refuses syncfs (group commit); --fsync-per-file fsyncs each file instead",
            parent.display()
        )
    })
}

fn parse_meeting(s: &str) -> Result<MeetingKind, String> {
    s.parse()
        .map_err(|e: sim::meeting::ParseMeetingKindError| e.to_string())
}

fn parse_duration(s: &str) -> Result<MediaTime, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(MediaTime::from_ticks(
        (d.as_nanos() / 100).min(i64::MAX as u128) as i64,
    ))
}

fn parse_span(s: &str) -> Result<(MediaTime, MediaTime), String> {
    let (from, to) = s
        .split_once("..")
        .or_else(|| s.split_once('-'))
        .ok_or_else(|| format!("{s:?}: expected START-END, e.g. 5s-9s"))?;
    let (from, to) = (parse_duration(from)?, parse_duration(to)?);
    if to <= from {
        return Err(format!("{s:?}: the end must come after the start"));
    }
    Ok((from, to))
}

fn record(a: RecordArgs) -> Result<()> {
    if a.pause.windows(2).any(|w| w[1].0 < w[0].1) {
        bail!("--pause: spans must be in order and not overlap");
    }
    let impairments: Impairments = a.impair.parse().context("--impair")?;
    let leg = a.leg.leg()?;
    if a.audit && leg.start.is_some() {
        bail!("--audit scores a leg that is in the call from its start (no START in --leg-span)");
    }
    let (mut spec, source) = if a.simulate {
        (simulated(&a)?, "simulation")
    } else if !a.source.is_empty() {
        let spec = MeetingSpec {
            participants: verbatim::sources::participants(&a.source)?,
            duration: a.duration,
            seed: a.seed,
            impairments,
            screenshares: Vec::new(),
        };
        (spec, "files")
    } else {
        bail!("say what to record: --simulate, or --source NAME=PATH (repeatable)");
    };
    spec.impairments = impairments;
    if let Some(p) = &a.screenshare {
        if !spec.screenshares.is_empty() {
            bail!("--screenshare: this meeting already shares screens (--meeting --video)");
        }
        let sharer = spec
            .participants
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        spec.screenshares
            .push(verbatim::sources::screenshare(p, &sharer)?);
    }
    let has_video =
        !spec.screenshares.is_empty() || spec.participants.iter().any(|p| p.video.is_some());
    let composite = (a.composite || has_video) && !a.no_composite;
    let mut opts = RecordOptions::new(&a.out);
    if !a.fsync_per_file {
        opts.group_commit = Some(std::sync::Arc::new(start_group_commit(&a.out)?));
    }
    opts.realtime = a.realtime;
    opts.pauses = a.pause.clone();
    if a.realtime {
        // A live call: the source's timestamps may not run ahead of the wall clock.
        opts.recorder.call_clock.max_lead = Some(verbatim::listen::DEFAULT_MAX_LEAD);
    }
    opts.progress = !a.quiet;
    opts.recorder.track.late_window = a.late_window;
    opts.signing_key = a.signing_key.clone();
    opts.tsa_url = a.tsa.clone();
    opts.encrypt_to = cli::crypt::recipients(&a.encrypt_to)?;
    opts.start_utc_ms = a.start_utc_ms;
    if composite {
        let cfg = codecs::composite::CompositorConfig {
            layout: a.layout,
            ..Default::default()
        };
        opts.composite = Some((cfg, verbatim::listen::COMPOSITE_BITRATE));
    }
    opts.call = CallInfo {
        id: format!("sim-{:016x}", a.seed),
        source: source.into(),
        impairments: Some(impairments.to_string()),
        seed: Some(a.seed),
        ..Default::default()
    };
    a.leg.describe(&leg, &mut opts.call)?;
    let participants = a.audit.then(|| spec.participants.clone());
    let store = a.store.config()?;
    let (recorded, upload) = verbatim::record::record_leg_stored(spec, leg, &opts, store.as_ref());
    if let Some(u) = &upload {
        println!("{}", u.to_text());
    }
    let o = recorded?;
    if let Some(u) = upload.filter(|u| !u.complete) {
        bail!(
            "{} is complete locally, but {} is not complete in the bucket",
            o.out.display(),
            u.url
        );
    }
    let s = &o.summary;
    println!(
        "recorded {:.2} s, {} participants, into {} in {:.2} s ({:.0}x real time)",
        s.duration.as_secs_f64(),
        s.participants.len(),
        o.out.display(),
        o.elapsed.as_secs_f64(),
        s.duration.as_secs_f64() / o.elapsed.as_secs_f64().max(1e-9)
    );
    let secs = |t: MediaTime| t.as_secs_f64();
    for p in &s.participants {
        let st = &p.stats;
        println!(
            "  {:<12} frames written {:>7} of {:>7}  dropped {:>4} (late {}, dup {}, stamp {}, other {})  drift {:+.0} ppm",
            p.info.name,
            st.written,
            st.delivered + p.limit_dropped,
            st.dropped() + p.limit_dropped,
            st.late,
            st.duplicates,
            st.outliers,
            st.wrong_format + st.overrun + p.limit_dropped,
            p.drift_ppm
        );
        println!(
            "  {:<12} gaps {:>5}: nothing sent {:.1} s, inferred lost {:.2} s, dropped here {:.2} s",
            "",
            p.gaps.count,
            secs(p.gaps.nothing_sent),
            secs(p.gaps.inferred_loss),
            secs(p.gaps.dropped)
        );
    }
    if let Some(parts) = participants {
        print_audit(&o, &parts)?;
    }
    Ok(())
}

/// `record --audit`: the recording scored against the simulator's ground truth.
fn print_audit(
    o: &verbatim::record::RecordOutcome,
    parts: &[bot_adapter::sim::SimParticipant],
) -> Result<()> {
    let results = verbatim::audit::audit_folder(&o.out, parts, &o.sim)?;
    let mut all = verbatim::audit::AuditReport::default();
    println!("audit against what was sent:");
    for (name, r) in &results {
        println!(
            "  {name:<12} sent {:>7}  delivered {:>7}  exact copies {:>7} ({:.2} %)  unexplained {}",
            r.sent,
            r.delivered,
            r.exact,
            100.0 * r.exact_share(),
            r.unexplained
        );
        if r.unexplained > 0 {
            let first: Vec<String> = r
                .examples
                .iter()
                .map(|(i, t)| format!("frame {i} at {:.2} s", t.as_secs_f64()))
                .collect();
            println!("    first missing or not found: {}", first.join(", "));
        }
        all.merge(r);
    }
    let q = |x| all.error_quantile_ms(x).unwrap_or(f64::NAN);
    println!(
        "  all: exact copies {}/{} ({:.3} %), slipped by one sample {}, speech lost {} frames (network {}, \
         four-loudest {}, dropped here {}), missing with no gap {}",
        all.exact,
        all.delivered,
        100.0 * all.exact_share(),
        all.slipped,
        all.sent - all.exact - all.slipped - all.pending - all.after_end,
        all.lost_network,
        all.not_among_four_loudest,
        all.delivered - all.exact - all.slipped,
        all.unexplained
    );
    println!(
        "  placement error: p50 {:.1} ms, p99 {:.1} ms, worst {:.1} ms; inferred-loss precision {:.3}, recall {:.3} \
         (inside speech {:.3})",
        q(0.5),
        q(0.99),
        q(1.0),
        all.inferred_loss_precision().unwrap_or(f64::NAN),
        all.inferred_loss_recall().unwrap_or(f64::NAN),
        all.inside_speech_recall().unwrap_or(f64::NAN)
    );
    Ok(())
}

/// The meeting `record --simulate` records: the default chatter of `--participants` synthetic speakers, or a
/// planned `--meeting`.
fn simulated(a: &RecordArgs) -> Result<MeetingSpec> {
    let n = a
        .participants
        .unwrap_or(a.meeting.map_or(4, MeetingKind::default_participants));
    if n == 0 || n > MAX_PARTICIPANTS {
        bail!("--participants must be 1 to {MAX_PARTICIPANTS}");
    }
    let Some(kind) = a.meeting else {
        let d = a.duration.unwrap_or(MediaTime::from_secs(30));
        return Ok(MeetingSpec {
            participants: sim::synthetic::participants(n, d, a.seed),
            duration: Some(d),
            seed: a.seed,
            impairments: Impairments::NONE,
            screenshares: Vec::new(),
        });
    };
    let d = a.duration.unwrap_or(kind.default_duration());
    let clips = if a.video {
        Some(verbatim::sources::MeetingClips::new(n)?)
    } else {
        None
    };
    let spec = verbatim::sources::meeting(kind, n, d, a.seed, clips.as_ref())?;
    if !a.quiet {
        eprintln!(
            "planned {kind} of {}: {}",
            humantime::format_duration(std::time::Duration::from_secs(d.as_secs_f64() as u64)),
            verbatim::sources::describe(&spec)
        );
    }
    Ok(spec)
}

fn keygen(a: KeygenArgs) -> Result<()> {
    if let (true, Some(path)) = (a.encryption, &a.identity_file) {
        return cli::crypt::keygen_encryption(path);
    }
    use muxer::integrity::{
        default_key_path, generate_signing_key, public_key_text, save_signing_key,
    };
    let path = match a.out {
        Some(p) => p,
        None => default_key_path()?,
    };
    if path.exists() && !a.force {
        bail!("{} exists (use --force to replace it: recordings signed with it stay verifiable only with its public key)", path.display());
    }
    let key = generate_signing_key()?;
    save_signing_key(&path, &key)?;
    let public = public_key_text(&key.verifying_key());
    let pub_path = path.with_extension("pub");
    std::fs::write(&pub_path, &public).with_context(|| pub_path.display().to_string())?;
    eprintln!(
        "private key: {}\npublic key:  {}\nkey id:      {}\n\
         (add the public key to your organisation's keyring: `<64 hex> from=<date> <label>`)",
        path.display(),
        pub_path.display(),
        muxer::integrity::key_id(&key.verifying_key())
    );
    print!("{public}");
    Ok(())
}

/// The keyring a `--public-key` or `--keyring` option names, if any.
fn trusted_keys(
    public_key: Option<&std::path::Path>,
    keyring: Option<&std::path::Path>,
) -> Result<Option<muxer::integrity::Keyring>> {
    use muxer::integrity::{load_public_key, Keyring};
    Ok(match (public_key, keyring) {
        (Some(p), _) => Some(Keyring::single(load_public_key(p)?)),
        (None, Some(k)) => Some(Keyring::load(k)?),
        (None, None) => None,
    })
}

fn verify(a: VerifyArgs) -> Result<ExitCode> {
    use muxer::verify::{verify_dir_opts, Trust, VerifyOptions};
    let cert = match &a.tsa_cert {
        Some(p) => Some(std::fs::read(p).with_context(|| p.display().to_string())?),
        None => None,
    };
    let key = match &a.public_key {
        Some(p) => Some(muxer::integrity::load_public_key(p)?),
        None => None,
    };
    let ring = match &a.keyring {
        Some(k) => Some(muxer::integrity::Keyring::load(k)?),
        None => None,
    };
    let trust = match (&key, &ring) {
        (Some(k), _) => Trust::Key(k),
        (None, Some(r)) => Trust::Keyring(r),
        (None, None) => Trust::EmbeddedKey,
    };
    let replay = cli::store::replayed(&a.dir, &a.endpoint, false)?;
    let dir = replay.as_ref().map_or(a.dir.clone(), |r| r.0.clone());
    let report = verify_dir_opts(
        &dir,
        &VerifyOptions {
            trust,
            tsa_cert: cert.as_deref(),
        },
    )?;
    println!("{}", report.summary);
    if !a.legs.is_empty() {
        if let Some(code) = cli::merge::verify_legs(&dir, &a.legs)? {
            return Ok(code);
        }
    }
    if let Some(r) = &report.recovery {
        println!(
            "recovered {} by key {}: {} records signed live, {} sealed at recovery",
            muxer::integrity::keyring::instant_text(r.utc_ms),
            r.key_id,
            r.live_entries,
            r.sealed_entries
        );
        for c in report.coverage.iter().filter(|c| !c.sealed.is_empty()) {
            println!("  {}", c.to_text());
        }
        for t in &r.accepted_tampering {
            println!("  ALTERED, ACCEPTED AT RECOVERY: {t}");
        }
    }
    if a.public_key.is_none() && a.keyring.is_none() {
        if a.trust_embedded_key {
            eprintln!(
                "verbatim: note: trusted the key the manifest names ({}), as --trust-embedded-key asked",
                report.key_id
            );
        } else {
            eprintln!(
                "verbatim: warning: the folder is intact, but its signer ({}) is NOT authenticated: anyone can \
                 re-sign a folder with a key of their own. Give --public-key or --keyring (or \
                 --trust-embedded-key to accept the embedded key); exit code {EXIT_SIGNER_NOT_AUTHENTICATED}",
                report.key_id
            );
            return Ok(ExitCode::from(EXIT_SIGNER_NOT_AUTHENTICATED));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn recover(a: RecoverArgs) -> Result<ExitCode> {
    use muxer::recover::{recover_dir_adding, RecoverError, RecoverOptions};
    let (key, _) = verbatim::keys::signing_key(a.signing_key.as_deref())?;
    // metadata.json died with the recorder: rebuilt from the journaled timeline.jsonl, signed with the rest.
    let mut rebuilt = false;
    let mut extra = |dir: &std::path::Path| match verbatim::rebuild::rebuild_metadata(dir) {
        Ok(Some(md)) => {
            rebuilt = true;
            vec![("metadata.json".to_string(), md)]
        }
        Ok(None) => Vec::new(),
        Err(e) => {
            eprintln!("verbatim: warning: metadata.json not rebuilt: {e}");
            Vec::new()
        }
    };
    let opts = RecoverOptions {
        accept_tampered: a.accept_tampered,
        trust: trusted_keys(a.public_key.as_deref(), a.keyring.as_deref())?,
        now_utc_ms: None,
    };
    let replay = cli::store::replayed(&a.dir, &a.endpoint, true)?;
    let dir = replay.as_ref().map_or(a.dir.clone(), |r| r.0.clone());
    let r = match recover_dir_adding(&dir, &key, &opts, &mut extra) {
        Ok(r) => r,
        Err(e @ (RecoverError::Tampered(_) | RecoverError::Symlink { .. })) => {
            eprintln!("verbatim: {}: {e}", a.dir.display());
            return Ok(ExitCode::from(EXIT_TAMPERED));
        }
        Err(e) => return Err(e.into()),
    };
    if rebuilt && r.action == muxer::recover::RecoverAction::Closed {
        println!("  metadata.json: rebuilt from timeline.jsonl");
    }
    for (f, before, after) in &r.files {
        if before != after {
            println!("  {f}: cut {before} -> {after} bytes");
        }
    }
    for t in &r.accepted_tampering {
        println!("  ALTERED, ACCEPTED (recorded in the signed manifest): {t}");
    }
    println!(
        "{:?}: kept {} chain records ({} signed live), dropped {}",
        r.action, r.kept_entries, r.live_entries, r.dropped_entries
    );
    println!("{}", r.verify.summary);
    if let Some((dir, _tmp, bucket, url)) = &replay {
        if r.action == muxer::recover::RecoverAction::Closed {
            let at = url.join(store::RECOVERED_DIR);
            let n = bucket.upload_dir(dir, &at)?;
            println!("uploaded the recovered folder as {n} new objects under {at}");
        } else {
            println!("{url} was closed in the bucket: nothing uploaded");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(a: InspectArgs) -> Result<()> {
    let i = verbatim::inspect::inspect_dir(&a.dir)?;
    if let Some(out) = &a.svg {
        let md = a.dir.join("metadata.json");
        // A folder left by a crash has no metadata.json yet: drawn from one rebuilt in memory from
        // timeline.jsonl, as `recover` would write it.
        let bytes = match std::fs::read(&md) {
            Ok(b) if !b.is_empty() => b,
            _ => verbatim::rebuild::rebuild_metadata(&a.dir)?.with_context(|| {
                format!(
                    "{}: neither metadata.json nor timeline.jsonl to draw from",
                    a.dir.display()
                )
            })?,
        };
        let mut t = timeline_svg::TimelineInput::from_metadata_json(&bytes)
            .with_context(|| md.display().to_string())?;
        // Received silence is drawn pale, not as speech: each stem's quiet stretches from its peaks (a stem
        // that cannot be read, e.g. encrypted, leaves its row as metadata.json says).
        for row in &mut t.participants {
            let n = &row.name;
            if n.is_empty() || n.contains(['/', '\\']) || n.starts_with('.') {
                continue; // not a stem name (metadata.json is outside input)
            }
            let stem = a.dir.join("participants").join(format!("{n}.wav"));
            if let Ok(p) = timeline_svg::peaks_from_wav_path(&stem, 100_000) {
                row.quiet = timeline_svg::quiet_spans(&p);
            }
        }
        std::fs::write(
            out,
            timeline_svg::render_svg(&t, &timeline_svg::SvgOptions::default()),
        )
        .with_context(|| out.display().to_string())?;
        eprintln!("verbatim: the speaker timeline is in {}", out.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&i)?);
    } else {
        print!("{}", i.to_text());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ok = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    let r = match cli.command {
        Command::Record(a) => ok(record(a)),
        Command::Keygen(a) => ok(keygen(a)),
        Command::Verify(a) => verify(a),
        Command::Recover(a) => recover(a),
        Command::Inspect(a) => ok(inspect(a)),
        Command::Listen(a) => ok(cli::listen::run(a)),
        Command::Send(a) => ok(cli::send::run(a)),
        Command::Merge(a) => ok(cli::merge::run(a)),
        Command::Decrypt(a) => ok(cli::crypt::decrypt(a)),
        Command::Hold(a) => ok(cli::store::hold(a)),
        Command::Serve(a) => ok(cli::console::serve(a)),
        Command::Search(a) => ok(cli::console::search(a)),
        Command::Users(a) => ok(cli::console::users(a)),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            // Our errors name their cause in their own text: print each cause of the chain once.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            eprintln!("verbatim: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
