//! The reference bot's simulated senders answer `KeyFrameRequest`s: the next frame a sender captures after a
//! request reaches it is an IDR.
//!
//! The simulator plays H.264 clips frame by frame and knows nothing of requests (it stays as it is; this wraps
//! its output). A clip has IDRs only where its encoder put them, so an answer is made here, as a real
//! sender's encoder would make it:
//!
//! ```text
//!  clip:    I P P P P P P P P P P I P P …      request at call time T
//!                   │                          j = first frame captured at or after T
//!  sent:    I P P P I'P'P'P'P'P'P'I P P …      I' = frame j decoded from the clip and encoded as an IDR,
//!                   └─ segment ──┘              P' = the clip's next frames re-encoded by the same encoder,
//!                                               until the clip's own next IDR (with its own SPS/PPS)
//! ```
//!
//! A segment's encoder encodes every frame of it in capture order, whether or not the simulated network
//! delivers it (a frame lost on the way is encoded and not sent, so the receiver sees the break in
//! `frame_num` a real loss makes); a frame delivered late or twice gets the bytes encoded for it. Frames are
//! identified by their timestamp (`V0 + clip time`, exactly, see [`bot_adapter::sim`]) and their capture time
//! comes from the simulator's report. A request whose frame `j` is one of the clip's own IDRs needs nothing.
//! A new request inside a segment starts a new segment (a fresh encoder, so a new IDR with its parameter
//! sets) at its own `j`, and the older one ends there.
//!
//! The re-encoded pictures go through OpenH264's Constrained Baseline encoder: its SPS/PPS differ from the
//! clip's, so a passthrough file of such a stream carries in-band parameter-set changes at every answer and
//! at every return to the clip.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bot_adapter::sdk::VideoMediaBuffer;
use bot_adapter::sim::{MeetingSpec, SimReport, VideoAccessUnit, VideoReport};
use bytes::Bytes;
use codecs::h264::{H264Decoder, H264Encoder, H264EncoderConfig};
use codecs::CodecError;
use media_core::h264::{nal_units, NalType};
use media_core::{MediaTime, Msi};

/// Encoded frames of a stream kept for late or repeated deliveries, counted back from the newest frame
/// delivered (10 s at 30 fps; a frame later than that is sent as the clip has it, counted as `stale`).
const CACHE_FRAMES: usize = 300;

/// What the answers did, for one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnswerStats {
    /// Requests received for a stream this bot sends.
    pub requests: u64,
    /// Requests for an MSI this bot does not send (ignored).
    pub unknown_stream: u64,
    /// Requests answered by starting a segment (an IDR made from the clip).
    pub idrs_made: u64,
    /// Requests whose next captured frame was an IDR already (one of the clip's own, or one made for an
    /// earlier request): nothing to do.
    pub already_idr: u64,
    /// Requests after the clip's last frame (nothing left to send).
    pub after_clip_end: u64,
    /// Frames re-encoded (the IDRs made included; a frame the network then lost was encoded too).
    pub frames_reencoded: u64,
    /// Delivered frames whose re-encoded bytes were no longer kept: sent as the clip has them.
    pub stale: u64,
    /// Delivered buffers whose timestamp matches no clip frame: sent unchanged.
    pub unmatched: u64,
    /// Decoding or encoding failed: the segment was abandoned and the clip's frames sent.
    pub codec_errors: u64,
}

/// A run of re-encoded frames `[first, end)` of one clip (see the module docs).
struct Segment {
    first: usize,
    end: usize,
    /// The next frame to encode.
    next: usize,
    /// The next clip frame to decode (decoding starts at the clip's IDR at or before `first`).
    next_decode: usize,
    decoder: H264Decoder,
    encoder: H264Encoder,
}

/// One video stream the bot sends: its clip and what has been re-encoded of it.
struct ClipStream {
    frames: Arc<[VideoAccessUnit]>,
    /// Whether each clip frame is one of the clip's own IDRs.
    natural: Vec<bool>,
    /// Capture time of each frame (call time on the platform's clock).
    capture: Vec<MediaTime>,
    epoch: u64,
    frame_rate: f32,
    segments: Vec<Segment>,
    cache: BTreeMap<usize, Bytes>,
    newest_delivered: usize,
}

/// The reference bot's answers to key-frame requests, for every video stream of one call.
pub struct KeyFrameAnswers {
    streams: HashMap<Msi, ClipStream>,
    stats: AnswerStats,
}

impl std::fmt::Debug for KeyFrameAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFrameAnswers")
            .field("streams", &self.streams.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl KeyFrameAnswers {
    /// The streams of `spec` (cameras and the screen share), with their epochs and capture times from the
    /// simulator's `report` (complete for these from the simulator's start).
    pub fn new(spec: &MeetingSpec, report: &SimReport) -> Self {
        let mut streams = HashMap::new();
        let cameras = spec
            .participants
            .iter()
            .zip(&report.participants)
            .filter_map(|(p, r)| Some((p.video.as_ref()?, r.video.as_ref()?)))
            .map(|(v, r)| (v.msi, &v.track, r));
        let share = spec
            .screenshares
            .iter()
            .zip(&report.screenshares)
            .map(|(s, r)| (s.msi, &s.track, r));
        for (msi, track, r) in cameras.chain(share) {
            if r.msi == msi {
                streams.insert(msi, ClipStream::new(track, r));
            }
        }
        KeyFrameAnswers {
            streams,
            stats: AnswerStats::default(),
        }
    }

    /// What the answers did so far.
    pub fn stats(&self) -> AnswerStats {
        self.stats
    }

    /// A `KeyFrameRequest` for `msi` reached its sender at call time `at`: the first frame captured at or
    /// after `at` will be an IDR.
    pub fn request(&mut self, msi: Msi, at: MediaTime) {
        let Some(s) = self.streams.get_mut(&msi) else {
            self.stats.unknown_stream += 1;
            return;
        };
        self.stats.requests += 1;
        let j = s.capture.partition_point(|&c| c < at);
        if j >= s.frames.len() {
            self.stats.after_clip_end += 1;
            return;
        }
        if s.natural.get(j).copied().unwrap_or(false) || s.segments.iter().any(|g| g.first >= j) {
            // The clip's own IDR comes next, or this frame already starts a segment.
            self.stats.already_idr += 1;
            return;
        }
        match s.segment_from(j) {
            Ok(seg) => {
                for g in &mut s.segments {
                    g.end = g.end.min(j);
                }
                s.segments.retain(|g| g.next < g.end);
                s.segments.push(seg);
                self.stats.idrs_made += 1;
            }
            Err(_) => self.stats.codec_errors += 1,
        }
    }

    /// Gives a delivered buffer the bytes its sender sent: the clip's frame, or its re-encoded form when it
    /// lies in a segment.
    pub fn answer(&mut self, buf: &mut VideoMediaBuffer) {
        let Some(s) = self.streams.get_mut(&buf.media_source_id) else {
            return;
        };
        let Some(k) = s.index_of(buf.timestamp.ticks()) else {
            self.stats.unmatched += 1;
            return;
        };
        s.newest_delivered = s.newest_delivered.max(k);
        if let Some(data) = s.cache.get(&k) {
            buf.data = data.clone();
            return;
        }
        let Some(g) = s.segments.iter().position(|g| g.first <= k && k < g.end) else {
            return;
        };
        if k < s.segments[g].next {
            self.stats.stale += 1;
            return;
        }
        match s.encode_through(g, k) {
            Ok(n) => {
                self.stats.frames_reencoded += n;
                if let Some(data) = s.cache.get(&k) {
                    buf.data = data.clone();
                }
            }
            Err(_) => {
                self.stats.codec_errors += 1;
                s.segments.remove(g);
            }
        }
        s.prune();
    }
}

impl ClipStream {
    fn new(track: &bot_adapter::sim::VideoTrack, r: &VideoReport) -> Self {
        ClipStream {
            natural: track.frames.iter().map(|f| f.is_keyframe()).collect(),
            capture: track
                .frames
                .iter()
                .map(|f| r.capture_time(f.time))
                .collect(),
            frames: Arc::clone(&track.frames),
            epoch: r.sender_epoch.ticks(),
            frame_rate: (track.frame_rate_millihz as f32 / 1000.0).clamp(1.0, 120.0),
            segments: Vec::new(),
            cache: BTreeMap::new(),
            newest_delivered: 0,
        }
    }

    /// The clip frame stamped `timestamp` (`V0 + clip time`).
    fn index_of(&self, timestamp: u64) -> Option<usize> {
        let t = i64::try_from(timestamp.checked_sub(self.epoch)?).ok()?;
        self.frames
            .binary_search_by_key(&MediaTime::from_ticks(t), |f| f.time)
            .ok()
    }

    /// A segment starting at frame `j` and running to the clip's next IDR.
    fn segment_from(&self, j: usize) -> Result<Segment, CodecError> {
        let end = (j + 1..self.frames.len())
            .find(|&i| self.natural.get(i).copied().unwrap_or(false))
            .unwrap_or(self.frames.len());
        let start = (0..=j)
            .rev()
            .find(|&i| self.natural.get(i).copied().unwrap_or(false))
            .unwrap_or(0);
        Ok(Segment {
            first: j,
            end,
            next: j,
            next_decode: start,
            decoder: H264Decoder::new()?,
            encoder: H264Encoder::new(H264EncoderConfig {
                bitrate_bps: 1_500_000,
                max_frame_rate: self.frame_rate,
                // An IDR only as the first frame: the clip's own IDR ends the segment.
                keyframe_interval: 0,
                threads: 1,
            })?,
        })
    }

    /// Encodes segment `g`'s frames up to and including `k` into the cache; returns how many.
    fn encode_through(&mut self, g: usize, k: usize) -> Result<u64, CodecError> {
        let Some(seg) = self.segments.get_mut(g) else {
            return Ok(0);
        };
        let mut n = 0;
        while seg.next <= k {
            let i = seg.next;
            let mut picture = None;
            while seg.next_decode <= i {
                let Some(f) = self.frames.get(seg.next_decode) else {
                    return Err(CodecError::InvalidConfig("clip frame missing".into()));
                };
                seg.next_decode += 1;
                picture = seg.decoder.decode(&f.data)?.is_some().then_some(());
            }
            if picture.is_none() {
                return Err(CodecError::InvalidConfig(format!(
                    "clip frame {i} gave no picture"
                )));
            }
            let time = self.frames.get(i).map_or(MediaTime::ZERO, |f| f.time);
            let encoded = seg.encoder.encode(seg.decoder.picture(), time)?;
            self.cache.insert(i, teams_nal_units(encoded.data));
            seg.next += 1;
            n += 1;
        }
        Ok(n)
    }

    /// Forgets what no delivery can need any more: finished segments' codecs, and encoded frames far behind
    /// the newest delivery.
    fn prune(&mut self) {
        self.segments.retain(|g| g.next < g.end);
        let keep_from = self.newest_delivered.saturating_sub(CACHE_FRAMES);
        self.cache = self.cache.split_off(&keep_from);
    }
}

/// An encoder's frame as Teams sends one: only SPS, PPS, IDR and non-IDR slices, 4-byte start codes.
fn teams_nal_units(annexb: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(annexb.len());
    for nal in nal_units(annexb) {
        if matches!(
            nal.nal_type(),
            NalType::SPS | NalType::PPS | NalType::IDR | NalType::NON_IDR
        ) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal.bytes());
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bot_adapter::sim::{SdkEvent, Simulator};
    use media_core::{FrameTiming, SourceId, SourceTimestamp, StreamKind, VideoFrame};

    use crate::video::{VideoOutput, VideoTrack};

    /// erin-sync.mp4 (30 fps, IDRs at frames 0, 60, 120, 150, 210, 240) as `record --source` reads it.
    fn erin() -> MeetingSpec {
        let clip = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/media/erin-sync.mp4"
        );
        let participants = crate::sources::participants(&[format!("erin={clip}")])
            .unwrap_or_else(|e| panic!("{clip}: {e}"));
        MeetingSpec {
            participants,
            duration: Some(MediaTime::from_secs(3)),
            seed: 5,
            impairments: Default::default(),
            screenshares: Vec::new(),
        }
    }

    /// A delivered frame: clip index, the bytes sent, and whether they hold an IDR.
    struct Sent {
        k: usize,
        at: MediaTime,
        buf: VideoMediaBuffer,
    }

    /// Plays `spec`, asking for a key frame at each of `requests` (call time), skipping the delivery of the
    /// clip frames in `lose`.
    fn play(
        spec: &MeetingSpec,
        requests: &[MediaTime],
        lose: &[usize],
    ) -> (Vec<Sent>, AnswerStats) {
        let mut sim = Simulator::new(spec.clone()).unwrap();
        let mut answers = KeyFrameAnswers::new(spec, sim.report());
        let msi = spec.participants[0].video.as_ref().unwrap().msi;
        let frames = Arc::clone(&spec.participants[0].video.as_ref().unwrap().track.frames);
        let epoch = sim.report().participants[0]
            .video
            .as_ref()
            .unwrap()
            .sender_epoch
            .ticks();
        let mut pending = requests.iter().copied().peekable();
        let mut sent = Vec::new();
        for ev in sim.by_ref() {
            while pending.next_if(|&r| r <= ev.at).is_some() {
                answers.request(msi, ev.at);
            }
            let SdkEvent::Video(mut buf) = ev.event else {
                continue;
            };
            let t = MediaTime::from_ticks((buf.timestamp.ticks() - epoch) as i64);
            let k = frames.iter().position(|f| f.time == t).unwrap();
            if lose.contains(&k) {
                continue;
            }
            answers.answer(&mut buf);
            sent.push(Sent { k, at: ev.at, buf });
        }
        (sent, answers.stats())
    }

    fn is_idr(b: &[u8]) -> bool {
        media_core::h264::has_idr(b)
    }

    /// What the recorder's passthrough track makes of the frames: (written, dropped waiting for an IDR).
    fn passthrough(sent: &[Sent]) -> (u64, u64) {
        let mut t = VideoTrack::new(MediaTime::from_millis(200));
        let mut out = VideoOutput::default();
        for s in sent {
            let f = VideoFrame {
                source: SourceId {
                    msi: s.buf.media_source_id,
                    kind: StreamKind::Video,
                },
                timing: FrameTiming {
                    timestamp: s.buf.timestamp,
                    reference: SourceTimestamp::UNKNOWN,
                    arrival: s.at,
                },
                format: s.buf.format,
                original_size: None,
                keyframe: false,
                payload: s.buf.data.clone(),
            };
            t.push(f, s.at, s.at, &mut out);
        }
        t.flush(&mut out);
        (t.stats().written, t.stats().waiting_for_idr)
    }

    #[test]
    fn the_next_frame_captured_after_a_request_is_an_idr_and_the_clip_resumes_at_its_own_idr() {
        let spec = erin();
        let clip = Arc::clone(&spec.participants[0].video.as_ref().unwrap().track.frames);
        // Frame 30 is captured at 1.000 s: the request reaches the sender just before.
        let (sent, stats) = play(&spec, &[MediaTime::from_millis(990)], &[]);
        assert_eq!(sent.len(), 90);
        for s in &sent {
            let original = s.buf.data == clip[s.k].data;
            match s.k {
                30 => assert!(!original && is_idr(&s.buf.data), "frame 30 is made an IDR"),
                31..=59 => assert!(
                    !original && !is_idr(&s.buf.data),
                    "frame {} re-encoded",
                    s.k
                ),
                _ => assert!(original, "frame {} is the clip's", s.k),
            }
        }
        assert!(
            is_idr(&sent[60].buf.data),
            "the clip's own IDR ends the segment"
        );
        assert_eq!((stats.idrs_made, stats.frames_reencoded), (1, 30));
        // Every frame decodes, and the re-encoded pictures are the clip's.
        let (mut ours, mut theirs) = (H264Decoder::new().unwrap(), H264Decoder::new().unwrap());
        for s in &sent {
            let a = ours.decode(&s.buf.data).unwrap().unwrap().mean_luma();
            let b = theirs.decode(&clip[s.k].data).unwrap().unwrap().mean_luma();
            assert!(
                (a - b).abs() < 2.0,
                "frame {}: mean luma {a:.1} vs {b:.1}",
                s.k
            );
        }
        assert_eq!(passthrough(&sent), (90, 0));
    }

    #[test]
    fn a_frame_lost_inside_a_segment_breaks_it_and_the_next_request_starts_another() {
        let spec = erin();
        // Frame 40 (inside the segment that starts at 30) never arrives; a second request makes frame 45
        // (captured at 1.5 s) an IDR again.
        let asks = [MediaTime::from_millis(990), MediaTime::from_millis(1490)];
        let (sent, stats) = play(&spec, &asks, &[40]);
        let idrs: Vec<usize> = sent
            .iter()
            .filter(|s| is_idr(&s.buf.data))
            .map(|s| s.k)
            .collect();
        assert_eq!(idrs, [0, 30, 45, 60]);
        // Frame 40 was encoded (the encoder's reference moved on) but not sent: 41..44 cannot be decoded.
        assert_eq!((stats.idrs_made, stats.frames_reencoded), (2, 15 + 15));
        assert_eq!(passthrough(&sent), (89 - 4, 4));
        // Without the second request the stream would wait for the clip's IDR at 60.
        let (sent, _) = play(&spec, &asks[..1], &[40]);
        assert_eq!(passthrough(&sent), (89 - 19, 19));
    }

    #[test]
    fn requests_that_need_no_new_idr_change_nothing() {
        let spec = erin();
        let clip = Arc::clone(&spec.participants[0].video.as_ref().unwrap().track.frames);
        // 1.99 s: the next frame captured is the clip's own IDR (frame 60); 3.5 s: after the call's end.
        let (sent, stats) = play(&spec, &[MediaTime::from_millis(1990)], &[]);
        assert!(sent.iter().all(|s| s.buf.data == clip[s.k].data));
        assert_eq!(
            (stats.requests, stats.already_idr, stats.idrs_made),
            (1, 1, 0)
        );
        let mut answers = KeyFrameAnswers::new(&spec, &SimReport::default());
        answers.request(Msi(1), MediaTime::ZERO);
        assert_eq!(answers.stats().unknown_stream, 1);
    }
}
