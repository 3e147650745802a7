//! The gRPC ingest path (`bot_adapter::grpc`, feature `grpc`): a bot's stream of `BotMessage`s, each decoded
//! with prost (length-delimited, as they follow each other on a stream), converted by `grpc::convert` and
//! pushed into an `Ingest`, whose events are drained as the media worker would. Bytes come from the network.
//! Build with `cargo fuzz run grpc_ingest --features grpc ...` (the other targets do not need tonic/prost).
#![no_main]

use bot_adapter::grpc::{convert, proto};
use bot_adapter::ingest::{self, IngestEvent};
use bot_adapter::sdk::RosterChange;
use libfuzzer_sys::fuzz_target;
use media_core::{AudioFormat, MediaTime, SourceTimestamp};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let (mut tx, mut rx) = ingest::channel(64);
    let mut format = AudioFormat::PCM16K;
    let mut buf = bytes::Bytes::copy_from_slice(data);
    let mut queued = 0u64;
    let mut accepted = 0u64;
    for _ in 0..512 {
        if buf.is_empty() {
            break;
        }
        let Ok(m) = proto::BotMessage::decode_length_delimited(&mut buf) else {
            break;
        };
        let Some(msg) = m.msg else {
            continue;
        };
        use proto::bot_message::Msg;
        let report = match msg {
            Msg::CallStart(c) => {
                if let Ok(d) = convert::call_start_from_proto(c) {
                    format = d.audio_format;
                }
                None
            }
            Msg::Roster(r) => {
                let at = SourceTimestamp::new(r.timestamp);
                for p in r.joined {
                    if let Ok(p) = convert::participant_from_proto(p) {
                        accepted += u64::from(tx.push_roster(at, RosterChange::Joined(p)).accepted);
                    }
                }
                for id in r.left_ids {
                    accepted += u64::from(tx.push_roster(at, RosterChange::Left { id }).accepted);
                }
                None
            }
            Msg::Audio(a) => convert::audio_from_proto(a, format)
                .ok()
                .map(|(b, _trim)| tx.push_audio(MediaTime::ZERO, b)),
            Msg::Video(v) => convert::video_from_proto(v)
                .ok()
                .map(|b| tx.push_video(MediaTime::ZERO, SourceTimestamp::UNKNOWN, b)),
            Msg::DominantSpeaker(d) => {
                let ev = convert::dominant_from_proto(&d);
                Some(tx.push_dominant_speaker(SourceTimestamp::new(d.timestamp), ev))
            }
            Msg::CallEnd(e) => Some(tx.push_call_ended(SourceTimestamp::new(e.timestamp))),
            Msg::RecordingStatus(_) | Msg::Pause(_) | Msg::Resume(_) => None,
        };
        if let Some(r) = report {
            accepted += u64::from(r.accepted);
        }
        while let Some(ev) = rx.pop() {
            queued += 1;
            if let IngestEvent::Audio(f) = &ev {
                // Ingest only lets whole 20 ms frames through.
                assert_eq!(
                    f.payload.len(),
                    f.format.bytes_in(MediaTime::from_millis(20))
                );
            }
        }
    }
    assert_eq!(queued, accepted, "every accepted event reaches the worker");
});
