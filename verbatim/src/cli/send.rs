//! `verbatim send`'s command line: the meetings to stream (simulated, or participants from files read as
//! `verbatim record` reads them) and the report of what the server recorded.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bot_adapter::grpc::auth::BearerToken;
use bot_adapter::sim::meeting::{MeetingKind, MAX_PARTICIPANTS};
use bot_adapter::sim::{self, Impairments, MeetingSpec, SimParticipant};
use media_core::MediaTime;

use verbatim::send::{send_calls, CallOutcome, Confirm, SendOptions};

/// `verbatim send` arguments.
#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// Server address: HOST:PORT, http://HOST:PORT or https://HOST:PORT.
    #[arg(long)]
    pub connect: String,
    /// File holding the bearer token.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) to trust for https://.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// TLS server name (default: the host in --connect).
    #[arg(long)]
    pub tls_domain: Option<String>,
    /// Simulate a meeting of synthetic speakers.
    #[arg(long, conflicts_with = "source")]
    pub simulate: bool,
    /// With --simulate: plan realistic meetings (as `verbatim record --meeting`): standup, townhall,
    /// one-on-one or panel. Call n is planned with seed + n - 1.
    #[arg(long, requires = "simulate", value_parser = parse_meeting)]
    pub meeting: Option<MeetingKind>,
    /// Number of synthetic participants with --simulate, at most 20 (default 4; with --meeting, the kind's).
    #[arg(long)]
    pub participants: Option<usize>,
    /// With --meeting: give participants cameras and share screens (synthetic H.264 clips, looped).
    #[arg(long, requires = "meeting")]
    pub video: bool,
    /// Length of each call (e.g. 30s, 1h); default 30s with --simulate, the kind's with --meeting; with
    /// --source, the longest input.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<MediaTime>,
    /// A participant from a file: NAME=PATH (WAV, FLAC, MP3, Ogg Vorbis, Ogg Opus; an MP4 clip gives the
    /// participant's camera video and audio), as `verbatim record --source`. Repeat for each.
    #[arg(long, value_name = "NAME=PATH")]
    pub source: Vec<String>,
    /// A screen share (an H.264 MP4 clip), shared by the first participant from call start.
    #[arg(long, value_name = "PATH")]
    pub screenshare: Option<PathBuf>,
    /// Network/platform impairments (as `verbatim record --impair`).
    #[arg(long, default_value = "none")]
    pub impair: String,
    /// Seed (call n uses seed + n - 1).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stream every call as N concurrent legs, as N recorder bots receive it (Teams invites up to two): the
    /// same call id and media, leg id "k" and its own platform clock epoch for leg k.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub legs: u32,
    /// Each leg's own path after the senders' uplinks (--impair), same syntax (network tokens only), drawn
    /// per leg from the seed and the leg number.
    #[arg(long, value_name = "SPEC", default_value = "none")]
    pub leg_impair: String,
    /// Number of concurrent calls.
    #[arg(long, default_value_t = 1)]
    pub calls: usize,
    /// Send as fast as the server takes it instead of in real time.
    #[arg(long)]
    pub fast: bool,
    /// Call id prefix (ids are PREFIX-1, PREFIX-2, ...).
    #[arg(long, default_value = "sim")]
    pub call_id: String,
    /// Ask for a pause: START-END in call time (e.g. 5s-8s). Repeatable.
    #[arg(long, value_name = "START-END")]
    pub pause: Vec<String>,
    /// Answer the recording-status request with a Graph refusal (tests the fail path).
    #[arg(long)]
    pub refuse_recording: bool,
}

fn parse_meeting(s: &str) -> Result<MeetingKind, String> {
    s.parse()
        .map_err(|e: bot_adapter::sim::meeting::ParseMeetingKindError| e.to_string())
}

fn parse_duration(s: &str) -> Result<MediaTime, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(MediaTime::from_ticks(
        (d.as_nanos() / 100).min(i64::MAX as u128) as i64,
    ))
}

/// The meeting of call `n` (0-based): file participants (the same for every call) or synthetic ones, and
/// the screen share when one is given, shared by the first participant (as `verbatim record` does).
fn meeting(
    a: &SendArgs,
    files: Option<&[SimParticipant]>,
    screenshare: Option<&PathBuf>,
    clips: Option<&verbatim::sources::MeetingClips>,
    impairments: Impairments,
    n: usize,
) -> anyhow::Result<MeetingSpec> {
    let seed = a.seed.wrapping_add(n as u64);
    let people = a
        .participants
        .unwrap_or(a.meeting.map_or(4, MeetingKind::default_participants));
    let mut spec = match (files, a.meeting) {
        (Some(p), _) => MeetingSpec {
            participants: p.to_vec(),
            duration: a.duration,
            seed,
            impairments,
            screenshares: Vec::new(),
        },
        (None, Some(kind)) => {
            let d = a.duration.unwrap_or(kind.default_duration());
            verbatim::sources::meeting(kind, people, d, seed, clips)?
        }
        (None, None) => {
            let d = a.duration.unwrap_or(MediaTime::from_secs(30));
            MeetingSpec {
                participants: sim::synthetic::participants(people, d, seed),
                duration: Some(d),
                seed,
                impairments,
                screenshares: Vec::new(),
            }
        }
    };
    spec.impairments = impairments;
    if let Some(path) = screenshare {
        if !spec.screenshares.is_empty() {
            anyhow::bail!("--screenshare: this meeting already shares screens (--meeting --video)");
        }
        let sharer = spec
            .participants
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        spec.screenshares
            .push(verbatim::sources::screenshare(path, &sharer)?);
    }
    Ok(spec)
}

/// Runs `verbatim send`.
///
/// # Errors
/// Bad arguments, connection failures, or any call not recorded as `completed`.
pub fn run(a: SendArgs) -> anyhow::Result<()> {
    let impairments: Impairments = a.impair.parse().context("--impair")?;
    let token = match &a.token_file {
        Some(f) => Some(
            BearerToken::new(&std::fs::read_to_string(f).with_context(|| f.display().to_string())?)
                .with_context(|| f.display().to_string())?,
        ),
        None => None,
    };
    let files = if a.simulate {
        None
    } else if !a.source.is_empty() {
        Some(verbatim::sources::participants(&a.source)?)
    } else {
        anyhow::bail!("say what to send: --simulate, or --source NAME=PATH (repeatable)");
    };
    if a.calls == 0 {
        anyhow::bail!("--calls must be at least 1");
    }
    let people = a
        .participants
        .unwrap_or(a.meeting.map_or(4, MeetingKind::default_participants));
    if files.is_none() && (people == 0 || people > MAX_PARTICIPANTS) {
        anyhow::bail!("--participants must be 1 to {MAX_PARTICIPANTS}");
    }
    let clips = if a.video {
        Some(verbatim::sources::MeetingClips::new(people)?)
    } else {
        None
    };
    let mut specs = Vec::new();
    for n in 0..a.calls {
        specs.push(meeting(
            &a,
            files.as_deref(),
            a.screenshare.as_ref(),
            clips.as_ref(),
            impairments,
            n,
        )?);
    }
    let mut opts = SendOptions::new(a.connect.clone(), token);
    opts.realtime = !a.fast;
    opts.legs = a.legs;
    opts.leg_impairments = a.leg_impair.parse().context("--leg-impair")?;
    opts.call_id_prefix = a.call_id.clone();
    if let Some(ca) = &a.ca {
        opts.ca_pem = Some(std::fs::read(ca).with_context(|| ca.display().to_string())?);
    }
    opts.tls_domain = a.tls_domain.clone();
    if a.refuse_recording {
        opts.confirm = Confirm::Refuse("simulated Graph refusal".into(), Duration::ZERO);
    }
    for p in &a.pause {
        let (s, e) = p
            .split_once('-')
            .with_context(|| format!("--pause {p:?}: expected START-END"))?;
        let s = parse_duration(s).map_err(anyhow::Error::msg)?;
        let e = parse_duration(e).map_err(anyhow::Error::msg)?;
        opts.pauses.push((s, e));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let outcomes = rt.block_on(send_calls(&opts, specs))?;
    let mut failed = 0;
    for o in &outcomes {
        if !report(o) {
            failed += 1;
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} calls not recorded as completed",
            outcomes.len()
        );
    }
    Ok(())
}

/// Prints what became of one call; false when it was not recorded as `completed`.
fn report(o: &CallOutcome) -> bool {
    let ok = match (&o.summary, &o.stream_error) {
        (Some(s), _) => {
            let frames: u64 = s.participants.iter().map(|p| p.frames_written).sum();
            let leg = if o.leg_id == "1" {
                String::new()
            } else {
                format!(" leg {}", o.leg_id)
            };
            println!(
                "{}{leg}: {} into {} ({:.2} s, {} participants, {} frames written) in {:.2} s",
                o.call_id,
                s.status,
                s.recording,
                s.duration_us as f64 / 1e6,
                s.participants.len(),
                frames,
                o.elapsed.as_secs_f64()
            );
            if !s.error.is_empty() {
                println!("  {}", s.error);
            }
            s.status == "completed"
        }
        (None, Some(e)) => {
            println!("{}: refused: {} ({:?})", o.call_id, e.message(), e.code());
            false
        }
        (None, None) => {
            println!("{}: no summary", o.call_id);
            false
        }
    };
    // Every video stream sent, beside what the server wrote of it: nothing is dropped unseen.
    let written = o
        .summary
        .as_ref()
        .map(|s| s.videos.as_slice())
        .unwrap_or(&[]);
    for (msi, sent) in &o.video_sent {
        match written.iter().find(|v| v.media_source_id == *msi) {
            Some(v) => println!(
                "  video {msi} -> {}: {sent} sent, {} received, {} written, {} dropped, {} key frames requested, {} gaps",
                v.path, v.frames_delivered, v.frames_written, v.frames_dropped, v.keyframe_requests, v.gaps
            ),
            None => println!("  video {msi}: {sent} sent, none recorded"),
        }
    }
    if o.key_frame_requests > 0 {
        let a = &o.key_frame_answers;
        println!(
            "  key frames: {} requested by the server; {} IDRs made from the clips ({} frames re-encoded), \
             {} already due, {} after the clip's end",
            o.key_frame_requests, a.idrs_made, a.frames_reencoded, a.already_idr, a.after_clip_end
        );
        if a.codec_errors + a.stale + a.unknown_stream + a.unmatched > 0 {
            println!(
                "  key frames: {} codec errors, {} frames sent stale, {} requests for unknown streams, \
                 {} frames not in their clip",
                a.codec_errors, a.stale, a.unknown_stream, a.unmatched
            );
        }
    }
    for e in &o.errors {
        println!("  server: {}", e.message);
    }
    ok
}
