//! The sans-IO fragmenter: samples in, fragment plans (header bytes + payload parts) out.

use std::collections::VecDeque;
use std::ops::Range;

use bytes::Bytes;
use media_core::h264::{self, H264Error, NalType, Sps};
use media_core::time::TICKS_PER_SECOND;
use media_core::MediaTime;

use super::boxes::{self, InitTrack, TrafPlan};
use super::{Fmp4Error, TrackSpec};

/// One piece of an `mdat` payload.
#[derive(Debug, Clone)]
pub enum Part {
    /// A 4-byte big-endian NAL length prefix.
    Prefix([u8; 4]),
    /// Sample bytes (a NAL unit slice or an Opus packet), shared with the caller's `Bytes`.
    Data(Bytes),
}

impl Part {
    /// The bytes of this part.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Part::Prefix(p) => p,
            Part::Data(b) => b,
        }
    }
}

/// A fragment ready to be written: `header` (moof + mdat header) then `parts` in order.
#[derive(Debug, Default, Clone)]
pub struct Fragment {
    /// `moof` + `mdat` header.
    pub header: Vec<u8>,
    /// The `mdat` payload.
    pub parts: Vec<Part>,
    /// The `mfhd` sequence number.
    pub sequence: u32,
    /// Per track in the fragment: `(track_id, base decode time, summed sample durations)`, track timescale
    /// (what the seek index and the final durations are built from).
    pub spans: Vec<(u32, u64, u64)>,
}

impl Fragment {
    /// Total bytes.
    pub fn len(&self) -> u64 {
        self.header.len() as u64
            + self
                .parts
                .iter()
                .map(|p| p.as_slice().len() as u64)
                .sum::<u64>()
    }
    /// True when nothing is in it.
    pub fn is_empty(&self) -> bool {
        self.header.is_empty() && self.parts.is_empty()
    }
}

#[derive(Debug)]
struct Pending {
    ts: u64,
    media: MediaTime,
    dur: Option<u32>,
    keyframe: bool,
    data: Bytes,
    nal_count: usize,
    size: u32,
}

#[derive(Debug)]
struct Track {
    spec: TrackSpec,
    timescale: u32,
    pending: VecDeque<Pending>,
    nals: VecDeque<Range<usize>>,
    last: Option<(u64, MediaTime)>,
    sps: Option<(Sps, Vec<u8>)>,
    pps: Option<Vec<u8>>,
    started: bool,
    end_ts: u64,
    dropped: u64,
}

impl Track {
    fn config_ready(&self) -> bool {
        !self.spec.is_video() || (self.sps.is_some() && self.pps.is_some())
    }
}

/// Counters of what the fragmenter did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FragmenterStats {
    /// Fragments produced.
    pub fragments: u64,
    /// Samples written into fragments.
    pub samples: u64,
    /// Video frames dropped because they came before the first SPS/PPS + IDR.
    pub dropped_before_keyframe: u64,
}

/// Decides fragment boundaries and builds fragment bytes. Drive it with [`Self::push`], then
/// [`Self::poll_fragment`] until `None`.
#[derive(Debug)]
pub struct Fragmenter {
    tracks: Vec<Track>,
    driver: usize,
    fragment_duration: MediaTime,
    sequence: u32,
    nal_scratch: Vec<Range<usize>>,
    out: Fragment,
    trafs: Vec<TrafPlan>,
    stats: FragmenterStats,
}

fn to_ts(t: MediaTime, timescale: u32) -> u64 {
    (t.ticks().max(0) as i128 * timescale as i128 + (TICKS_PER_SECOND / 2) as i128) as u64
        / TICKS_PER_SECOND as u64
}

/// The duration of an Opus packet in 48 kHz samples, from its TOC byte(s) (RFC 6716 §3.1); `None` if malformed.
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][(config % 4) as usize],
        12..=15 => [480, 960][(config % 2) as usize],
        _ => [120, 240, 480, 960][(config % 4) as usize],
    };
    let count = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3F),
    };
    (count > 0).then_some(frame * count)
}

impl Fragmenter {
    /// A fragmenter for `specs` (track ids 1..=n in this order).
    pub fn new(specs: &[TrackSpec], fragment_duration: MediaTime) -> Fragmenter {
        let tracks: Vec<Track> = specs
            .iter()
            .map(|s| Track {
                spec: *s,
                timescale: s.timescale(),
                pending: VecDeque::new(),
                nals: VecDeque::new(),
                last: None,
                sps: None,
                pps: None,
                started: false,
                end_ts: 0,
                dropped: 0,
            })
            .collect();
        let driver = tracks.iter().position(|t| t.spec.is_video()).unwrap_or(0);
        Fragmenter {
            tracks,
            driver,
            fragment_duration: fragment_duration.max(MediaTime::from_millis(1)),
            sequence: 0,
            nal_scratch: Vec::new(),
            out: Fragment::default(),
            trafs: Vec::new(),
            stats: FragmenterStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> FragmenterStats {
        let mut s = self.stats;
        s.dropped_before_keyframe = self.tracks.iter().map(|t| t.dropped).sum();
        s
    }

    /// The init segment's track descriptions, once every video track has its parameter sets.
    pub fn init_tracks(&self) -> Option<Vec<InitTrack>> {
        self.tracks
            .iter()
            .map(|t| match t.spec {
                TrackSpec::H264 { timescale, .. } => {
                    let (info, sps) = t.sps.as_ref()?;
                    Some(InitTrack::H264 {
                        timescale,
                        sps_info: *info,
                        sps: sps.clone(),
                        pps: t.pps.clone()?,
                    })
                }
                TrackSpec::Opus {
                    channels,
                    pre_skip,
                    input_sample_rate,
                } => Some(InitTrack::Opus {
                    channels,
                    pre_skip,
                    input_sample_rate,
                }),
            })
            .collect()
    }

    /// End of the media written so far, in ms (for `mehd`), rounded up.
    pub fn written_end_ms(&self) -> u64 {
        self.tracks
            .iter()
            .map(|t| (t.end_ts as u128 * 1000).div_ceil(t.timescale as u128) as u64)
            .max()
            .unwrap_or(0)
    }

    /// Adds one sample. `pts` is recording time; `data` is a whole Annex-B frame (video) or one Opus packet.
    ///
    /// Video frames before the track's first IDR with known SPS/PPS are dropped (counted in
    /// [`FragmenterStats::dropped_before_keyframe`]).
    ///
    /// # Errors
    /// A rejected sample: [`Fmp4Error::UnknownTrack`], [`Fmp4Error::NegativeTime`],
    /// [`Fmp4Error::NonIncreasing`], [`Fmp4Error::GapTooLong`], [`Fmp4Error::AnnexB`], [`Fmp4Error::EmptySample`].
    /// The fragmenter's state is unchanged.
    pub fn push(&mut self, track: usize, pts: MediaTime, data: Bytes) -> Result<(), Fmp4Error> {
        let tr = self
            .tracks
            .get_mut(track)
            .ok_or(Fmp4Error::UnknownTrack(track))?;
        if pts < MediaTime::ZERO {
            return Err(Fmp4Error::NegativeTime { track, pts });
        }
        if data.is_empty() {
            return Err(Fmp4Error::EmptySample(track));
        }
        let ts = to_ts(pts, tr.timescale);
        let prev_dur = match tr.last {
            Some((lts, lmedia)) if ts <= lts => {
                return Err(Fmp4Error::NonIncreasing {
                    track,
                    pts,
                    previous: lmedia,
                })
            }
            Some((lts, lmedia)) => {
                Some(u32::try_from(ts - lts).map_err(|_| Fmp4Error::GapTooLong {
                    track,
                    gap: pts.saturating_sub(lmedia),
                })?)
            }
            None => None,
        };
        // Cleared for every sample: an earlier frame that was refused or dropped leaves its ranges behind.
        self.nal_scratch.clear();
        let (keyframe, size, nal_count) = if tr.spec.is_video() {
            let mut keyframe = false;
            let mut size: u64 = 0;
            for unit in h264::nal_units(&data) {
                let nal = unit.bytes();
                match unit.nal_type() {
                    NalType::IDR => keyframe = true,
                    NalType::SPS if tr.sps.is_none() => {
                        let info = h264::parse_sps(nal)
                            .map_err(|source| Fmp4Error::AnnexB { track, source })?;
                        tr.sps = Some((info, nal.to_vec()));
                    }
                    NalType::PPS if tr.pps.is_none() => tr.pps = Some(nal.to_vec()),
                    _ => {}
                }
                size += 4 + nal.len() as u64;
                self.nal_scratch.push(unit.range());
            }
            if self.nal_scratch.is_empty() {
                return Err(Fmp4Error::AnnexB {
                    track,
                    source: H264Error::NoNalUnits { len: data.len() },
                });
            }
            let can_start = keyframe && tr.config_ready();
            if !(tr.started || can_start) {
                tr.dropped += 1;
                return Ok(());
            }
            let size =
                u32::try_from(size).map_err(|_| Fmp4Error::Encode("frame over 4 GiB".into()))?;
            (keyframe, size, self.nal_scratch.len())
        } else {
            let size = u32::try_from(data.len())
                .map_err(|_| Fmp4Error::Encode("packet over 4 GiB".into()))?;
            (true, size, 0)
        };
        if let (Some(d), Some(p)) = (prev_dur, tr.pending.back_mut()) {
            p.dur = Some(d);
        }
        tr.nals.extend(self.nal_scratch.drain(..));
        tr.pending.push_back(Pending {
            ts,
            media: pts,
            dur: None,
            keyframe,
            data,
            nal_count,
            size,
        });
        tr.last = Some((ts, pts));
        tr.started = true;
        Ok(())
    }

    fn fragment_start(&self) -> Option<MediaTime> {
        self.tracks
            .iter()
            .filter_map(|t| t.pending.front().map(|p| p.media))
            .min()
    }

    /// The next fragment, if one is due. `now` (recording time) lets a stalled input be flushed by time;
    /// `finish` flushes everything, giving each track's last sample its nominal duration.
    ///
    /// # Errors
    /// [`Fmp4Error::Encode`].
    pub fn poll_fragment(
        &mut self,
        now: Option<MediaTime>,
        finish: bool,
    ) -> Result<Option<&Fragment>, Fmp4Error> {
        if self.tracks.iter().any(|t| !t.config_ready()) {
            return Ok(None);
        }
        let Some(start) = self.fragment_start() else {
            return Ok(None);
        };
        let target = start.saturating_add(self.fragment_duration);
        let cut = if finish {
            for t in &mut self.tracks {
                let nominal = match t.spec {
                    TrackSpec::H264 {
                        nominal_frame_duration,
                        ..
                    } => to_ts(nominal_frame_duration, t.timescale) as u32,
                    TrackSpec::Opus { .. } => 0,
                };
                if let Some(p) = t.pending.back_mut() {
                    if p.dur.is_none() {
                        let d = match t.spec {
                            TrackSpec::Opus { .. } => opus_packet_samples(&p.data).unwrap_or(960),
                            TrackSpec::H264 { .. } => nominal,
                        };
                        p.dur = Some(d.max(1));
                    }
                }
            }
            MediaTime::MAX
        } else if let Some(end) = self.audio_driver_complete(target) {
            end
        } else {
            let d = &self.tracks[self.driver];
            let latest = d.pending.back().map(|p| (p.media, p.keyframe));
            let stall = start.saturating_add(MediaTime::from_ticks(
                self.fragment_duration.ticks().saturating_mul(3),
            ));
            match latest {
                Some((m, key)) if d.pending.len() >= 2 && m >= target && (key || m >= stall) => m,
                _ => match now {
                    Some(n) if n >= stall => n,
                    _ => return Ok(None),
                },
            }
        };
        self.build(cut)
    }

    /// Without video the fragment is cut by time: as soon as the driving audio track's newest packet (its
    /// duration read from its TOC) reaches `target`, it gets that duration and the fragment is due now, not
    /// when the next packet arrives (which would keep a finished fragment out of the next sync).
    fn audio_driver_complete(&mut self, target: MediaTime) -> Option<MediaTime> {
        let d = self.tracks.get_mut(self.driver)?;
        if d.spec.is_video() {
            return None;
        }
        let timescale = d.timescale;
        let p = d.pending.back_mut()?;
        let samples = opus_packet_samples(&p.data)?;
        let end = p
            .media
            .saturating_add(MediaTime::from_samples(i64::from(samples), 48_000));
        if end < target {
            return None;
        }
        if p.dur.is_none() {
            let dur = to_ts(
                MediaTime::from_samples(i64::from(samples), 48_000),
                timescale,
            );
            p.dur = Some(u32::try_from(dur).unwrap_or(u32::MAX).max(1));
        }
        Some(end)
    }

    fn build(&mut self, cut: MediaTime) -> Result<Option<&Fragment>, Fmp4Error> {
        self.trafs.clear();
        self.out.parts.clear();
        self.out.spans.clear();
        let mut payload: u64 = 0;
        let mut samples = 0u64;
        for (i, t) in self.tracks.iter_mut().enumerate() {
            let n = t
                .pending
                .iter()
                .take_while(|p| p.dur.is_some() && p.media < cut)
                .count();
            if n == 0 {
                continue;
            }
            let mut plan = TrafPlan {
                track_id: i as u32 + 1,
                base_decode_time: t.pending[0].ts,
                samples: Vec::with_capacity(n),
                payload_offset: payload,
            };
            for p in t.pending.drain(..n) {
                let dur = p.dur.unwrap_or(1);
                plan.samples.push((dur, p.size, p.keyframe));
                t.end_ts = p.ts + u64::from(dur);
                payload += u64::from(p.size);
                if t.spec.is_video() {
                    for _ in 0..p.nal_count {
                        if let Some(r) = t.nals.pop_front() {
                            self.out
                                .parts
                                .push(Part::Prefix((r.len() as u32).to_be_bytes()));
                            self.out.parts.push(Part::Data(p.data.slice(r)));
                        }
                    }
                } else {
                    self.out.parts.push(Part::Data(p.data));
                }
            }
            samples += n as u64;
            let span: u64 = plan.samples.iter().map(|s| u64::from(s.0)).sum();
            self.out
                .spans
                .push((plan.track_id, plan.base_decode_time, span));
            self.trafs.push(plan);
        }
        if self.trafs.is_empty() {
            return Ok(None);
        }
        self.sequence += 1;
        self.out.sequence = self.sequence;
        self.out.header = boxes::fragment_header(self.sequence, &self.trafs, payload)?;
        self.stats.fragments += 1;
        self.stats.samples += samples;
        Ok(Some(&self.out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_toc_durations() {
        assert_eq!(opus_packet_samples(&[0x78]), Some(960)); // CELT FB 20 ms
        assert_eq!(opus_packet_samples(&[0x08]), Some(960)); // SILK NB 20 ms
        assert_eq!(opus_packet_samples(&[0x7B, 0x03]), Some(2880));
        assert_eq!(opus_packet_samples(&[]), None);
    }

    #[test]
    fn audio_only_fragments_by_time_with_exact_durations() {
        let mut f = Fragmenter::new(&[TrackSpec::opus(1, 312)], MediaTime::from_secs(1));
        let mut frags = Vec::new();
        let mut due_after = Vec::new();
        for i in 0..120i64 {
            f.push(
                0,
                MediaTime::from_millis(i * 20),
                Bytes::from_static(&[0x78, 1, 2]),
            )
            .unwrap();
            while let Some(fr) = f.poll_fragment(None, false).unwrap() {
                frags.push(fr.clone());
                due_after.push(i);
            }
        }
        // Each fragment is due as soon as the packet that completes its second is pushed (packets 0..=49
        // end at 1.0 s), not one packet later: a sync right after that packet makes it durable.
        assert_eq!(due_after, [49, 99]);
        assert_eq!(f.stats().samples, 100);
        while let Some(fr) = f.poll_fragment(None, true).unwrap() {
            frags.push(fr.clone());
        }
        assert_eq!(frags.len(), 3);
        assert_eq!(f.stats().samples, 120);
        assert_eq!(f.written_end_ms(), 2400);
        assert!(f
            .push(0, MediaTime::from_millis(5), Bytes::from_static(&[0x78]))
            .is_err());
    }

    #[test]
    fn stalled_video_is_flushed_by_time_and_late_tracks_keep_their_start() {
        // SPS (1280x720 baseline) + PPS + IDR, then audio only.
        let sps = [
            0x67, 0x42, 0xC0, 0x1F, 0xD9, 0x00, 0x50, 0x05, 0xBB, 0x01, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xC0, 0xF1, 0x83, 0x24, 0x80,
        ];
        let mut idr = vec![0, 0, 0, 1];
        idr.extend_from_slice(&sps);
        idr.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xCB, 0, 0, 0, 1, 0x65, 0x88, 0x84]);
        let mut f = Fragmenter::new(
            &[TrackSpec::h264(), TrackSpec::opus(1, 312)],
            MediaTime::from_secs(1),
        );
        // A P-frame before any IDR is dropped.
        f.push(0, MediaTime::ZERO, Bytes::from_static(&[0, 0, 1, 0x41, 1]))
            .unwrap();
        f.push(0, MediaTime::from_millis(500), Bytes::from(idr.clone()))
            .unwrap();
        f.push(0, MediaTime::from_millis(600), Bytes::from(idr))
            .unwrap();
        for i in 0..250i64 {
            f.push(
                1,
                MediaTime::from_millis(i * 20),
                Bytes::from_static(&[0x78, 1]),
            )
            .unwrap();
        }
        assert!(
            f.poll_fragment(None, false).unwrap().is_none(),
            "no keyframe yet"
        );
        assert!(f
            .poll_fragment(Some(MediaTime::from_millis(2_900)), false)
            .unwrap()
            .is_none());
        let fr = f
            .poll_fragment(Some(MediaTime::from_secs(3)), false)
            .unwrap()
            .unwrap();
        let mut bytes = fr.header.clone();
        for p in &fr.parts {
            bytes.extend_from_slice(p.as_slice());
        }
        let info = super::super::reader::read_fragment(&bytes).unwrap();
        // video: one frame at 0.5 s (90 kHz) lasting 0.1 s; audio: the 150 packets before 3 s.
        assert_eq!(info.tracks, vec![(1, 45_000, 9_000), (2, 0, 150 * 960)]);
        assert_eq!(f.stats().dropped_before_keyframe, 1);
    }
}
