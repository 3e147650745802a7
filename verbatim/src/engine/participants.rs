//! Participants: one stem per person (roster identity, MSIs, joins and leaves), their audio tracks and the
//! conversion of a source at another rate.

use bot_adapter::sdk::RosterChange;
use media_core::resample::RateConverter;
use media_core::track::{AudioTrack, TrackConfig};
use media_core::{AudioFormat, MediaTime, Msi, StreamKind};

use super::{
    CallRecorder, EngineError, GapTally, ParticipantInfo, RecorderConfig, RecordingSink,
    TimelineEvent,
};

pub(super) struct Slot {
    pub(super) info: ParticipantInfo,
    pub(super) track: AudioTrack,
    pub(super) gaps: GapTally,
    pub(super) buf: Vec<i16>,
    /// For a source at another rate or channel count than the recording: its converter, a tick buffer at
    /// the source format, and the next source sample position to pull.
    pub(super) conv: Option<(RateConverter, Vec<i16>, i64)>,
}

impl Slot {
    /// Switches the slot to `format` when its first frame says the source is not at the recording's format.
    pub(super) fn adopt_format(
        &mut self,
        format: AudioFormat,
        cfg: &RecorderConfig,
        written_until: MediaTime,
    ) -> bool {
        if self.track.stats().delivered > 0 || format == cfg.track.format {
            return false;
        }
        let Ok(conv) = RateConverter::new(format, cfg.track.format.sample_rate, cfg.tick) else {
            return false;
        };
        let mut track = AudioTrack::new(TrackConfig {
            format,
            ..cfg.track
        });
        let start = written_until.to_samples(format.sample_rate);
        track.start_at(written_until);
        let tick_buf = vec![0; conv.src_tick() * format.channels.max(1) as usize];
        self.track = track;
        self.conv = Some((conv, tick_buf, start));
        true
    }

    /// One tick of this participant at the recording's format into `buf[..len]`.
    pub(super) fn pull(&mut self, from: i64, len: usize, now: MediaTime) {
        let buf = &mut self.buf[..len];
        match self.conv.as_mut() {
            None => self.track.pull(from, buf, now),
            Some((conv, tick, pos)) => {
                // Feed the converter until a whole tick is out (it runs ahead of the output by its delay).
                let mut guard = 0;
                while conv.available() < len && guard < 16 {
                    self.track.pull(*pos, tick, now);
                    *pos += conv.src_tick() as i64;
                    if conv.push(tick).is_err() {
                        break;
                    }
                    guard += 1;
                }
                let n = conv.pop(buf);
                for b in &mut buf[n..] {
                    *b = 0;
                }
            }
        }
    }
}

impl CallRecorder {
    pub(super) fn roster<S: RecordingSink>(
        &mut self,
        change: RosterChange,
        at: MediaTime,
        sink: &mut S,
    ) -> Result<(), EngineError<S::Error>> {
        match change {
            RosterChange::Joined(p) => {
                if let Some(&i) = self.by_id.get(&p.id) {
                    // A re-join or a stream change: same stem, new MSIs.
                    if let Some(slot) = self.slots.get_mut(i) {
                        if slot.info.left.take().is_some() {
                            sink.timeline(TimelineEvent::Joined { participant: i, at })
                                .map_err(EngineError::Sink)?;
                        }
                        for m in &p.media_streams {
                            if !slot.info.msis.contains(m) {
                                slot.info.msis.push(*m);
                            }
                            self.by_msi.insert(m.0, i);
                        }
                    }
                    return Ok(());
                }
                let info = ParticipantInfo {
                    name: self.unique_name(&p.display_name),
                    id: Some(p.id.clone()),
                    display_name: Some(p.display_name.clone()),
                    is_guest: p.is_guest,
                    msis: p.media_streams.clone(),
                    joined: at,
                    left: None,
                };
                self.add_slot(info, sink)?;
            }
            RosterChange::Left { id } => {
                if let Some(&i) = self.by_id.get(&id) {
                    if let Some(slot) = self.slots.get_mut(i) {
                        if slot.info.left.is_none() {
                            slot.info.left = Some(at);
                            sink.timeline(TimelineEvent::Left { participant: i, at })
                                .map_err(EngineError::Sink)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn unique_name(&self, wanted: &str) -> String {
        let base: String = wanted
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let base = if base.is_empty() {
            "participant".to_string()
        } else {
            base
        };
        let mut name = base.clone();
        let mut n = 2;
        while self.slots.iter().any(|s| s.info.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }

    pub(super) fn add_unknown<S: RecordingSink>(
        &mut self,
        msi: Msi,
        at: MediaTime,
        sink: &mut S,
    ) -> Result<usize, EngineError<S::Error>> {
        self.counters.unknown_msi_frames += 1;
        let info = ParticipantInfo {
            name: self.unique_name(&format!("unknown-{}", msi.0)),
            id: None,
            display_name: None,
            is_guest: false,
            msis: vec![(msi, StreamKind::Audio)],
            joined: at,
            left: None,
        };
        self.add_slot(info, sink)
    }

    pub(super) fn add_slot<S: RecordingSink>(
        &mut self,
        info: ParticipantInfo,
        sink: &mut S,
    ) -> Result<usize, EngineError<S::Error>> {
        let idx = self.slots.len();
        let mut track = AudioTrack::new(self.cfg.track);
        let start = self.written_until();
        track.start_at(start);
        let lead_in = start.to_samples(self.cfg.track.format.sample_rate).max(0) as u64;
        sink.participant_added(idx, &info, lead_in)
            .map_err(EngineError::Sink)?;
        if let Some(id) = &info.id {
            self.by_id.insert(id.clone(), idx);
        }
        for m in &info.msis {
            self.by_msi.insert(m.0, idx);
        }
        if let Some(c) = self.composite.as_mut() {
            if c.add_participant(info.display_name.as_deref().unwrap_or(&info.name))
                .is_err()
            {
                self.counters.not_in_composite += 1;
            }
        }
        let joined = info.joined;
        self.slots.push(Slot {
            info,
            track,
            gaps: GapTally::default(),
            buf: vec![0; self.tick_samples],
            conv: None,
        });
        sink.timeline(TimelineEvent::Joined {
            participant: idx,
            at: joined,
        })
        .map_err(EngineError::Sink)?;
        Ok(idx)
    }
}
