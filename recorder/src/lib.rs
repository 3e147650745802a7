//! # recorder — Verbatim's pipeline, assembled, as a library
//!
//! A call's events in (from [`bot_adapter::ingest`]), a signed recording folder out. No async runtime, no
//! gRPC, no command line: the `verbatim` binary (the CLI and the gRPC server) and the C ABI (`verbatim-ffi`)
//! are both built on this crate.
//!
//! ```text
//! bot-adapter ──► media-core (timeline, jitter, track, mixer) ──► codecs ──► muxer
//!   (ingest)     [engine: CallRecorder, sans-IO; video; composite]          (files)
//!                 media_worker (a call's thread / a pool) ──► writer_thread ──► sink (the folder)
//! ```
//!
//! * [`engine`]: the sans-IO call recorder — ingest events in, per-tick stems and mix out.
//! * [`video`]: participant video and screen share: H.264 passthrough placed on the timeline, loss detection.
//! * [`composite`]: the meeting video: cameras, initials and screen share composed and encoded once;
//!   [`video_worker`]: the per-call thread that encodes raw frames and renders the composite.
//! * [`media_worker`]: drains a call's ingest queue into its recorder, on a thread of its own or on a
//!   [`media_worker::MediaPool`] thread shared by many calls.
//! * [`sink`]: the signed recording folder writer (stems, mix as WAV and as Opus in fragmented MP4);
//!   [`writer_thread`]: runs it on its own thread behind a bounded queue.
//! * [`metadata`]: the `metadata.json` file; [`journal`]: counters and pauses journaled into the signed
//!   `timeline.jsonl` as they happen; [`rebuild`]: `metadata.json` rebuilt from them after a crash.
//! * [`session`]: the embedding API — one call driven as the gRPC contract drives `listen` (the C ABI wraps it).
//! * [`live`]: one call's folder, media worker and writer, and the handle its source pushes into.
//! * [`keys`]: the installation's signing key; [`tsa`]: RFC 3161 time stamps on the hash chain.
//! * [`media_stats`]: the media pool's node-wide figures for a metrics endpoint (per-call CPU per pass, queue
//!   depths, back-pressure, heartbeat).
//! * [`latency`]: the histogram the workers keep of their step times.
//!
//! ## Example: embed the recorder, push buffers, get a folder
//! What a bot does in-process ([`session::CallSession`]; the C ABI wraps the same calls): start the call, answer
//! the engine's request to report `recording` to Graph, push the SDK's buffers, end, and wait for the signed
//! folder.
//! ```
//! use bytes::Bytes;
//! use recorder::bot_adapter::sdk::{AudioMediaBuffer, FixedList, Participant, RosterChange, UnmixedAudioBuffer};
//! use recorder::live::RecordOptions;
//! use recorder::media_core::{AudioFormat, Msi, SourceTimestamp, StreamKind};
//! use recorder::session::{CallSession, CallStart, EngineMessage, RequestedStatus};
//!
//! let dir = std::env::temp_dir().join(format!("verbatim-session-doc-{}", std::process::id()));
//! let _ = std::fs::remove_dir_all(&dir);
//! let key = std::env::temp_dir().join(format!("verbatim-session-doc-{}.key", std::process::id()));
//! let k = recorder::muxer::integrity::generate_signing_key().unwrap();
//! recorder::muxer::integrity::save_signing_key(&key, &k).unwrap();
//! let mut opts = RecordOptions::new(&dir);
//! opts.signing_key = Some(key.clone());
//! let mut call = CallSession::start(opts, Default::default(), CallStart::new("call-1"));
//! // The engine asks the bot to report `recording` to Graph first.
//! assert!(matches!(call.messages().try_recv(), Ok(EngineMessage::StatusRequest(RequestedStatus::Recording))));
//! call.confirm(true, "").unwrap();
//! let ann = Participant {
//!     id: "ann".into(),
//!     display_name: "Ann".into(),
//!     is_guest: false,
//!     media_streams: vec![(Msi(7), StreamKind::Audio)],
//! };
//! call.push_roster(SourceTimestamp::new(1), RosterChange::Joined(ann));
//! for i in 0..50u64 {
//!     let mut buf = AudioMediaBuffer {
//!         timestamp: SourceTimestamp::new(1 + i * 200_000),
//!         format: AudioFormat::PCM16K,
//!         is_silence: false,
//!         active_speakers: FixedList::new(),
//!         unmixed: FixedList::new(),
//!     };
//!     let pcm: Vec<u8> = (0..320).flat_map(|s: i16| (s * 50).to_le_bytes()).collect();
//!     let _ = buf.unmixed.push(UnmixedAudioBuffer {
//!         active_speaker_id: Msi(7),
//!         data: Bytes::from(pcm),
//!         original_sender_timestamp: SourceTimestamp::UNKNOWN,
//!     });
//!     call.push_audio(buf);
//! }
//! call.end(SourceTimestamp::new(1 + 50 * 200_000));
//! let outcome = call.wait().unwrap();
//! assert_eq!(outcome.status, "completed");
//! assert!(dir.join("participants/ann.wav").exists());
//! # let _ = std::fs::remove_dir_all(&dir);
//! # let _ = std::fs::remove_file(&key);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(clippy::missing_errors_doc, clippy::missing_panics_doc)]

pub mod composite;
pub mod engine;
pub mod journal;
pub mod keys;
pub mod latency;
pub mod live;
pub mod media_stats;
pub mod media_worker;
pub mod metadata;
pub(crate) mod pool;
pub mod rebuild;
pub mod session;
pub mod sink;
pub mod tsa;
pub mod video;
pub mod video_worker;
pub mod writer_thread;

pub use bot_adapter;
pub use codecs;
pub use media_core;
pub use muxer;
