//! H.264 `frame_num` tracking for the passthrough track: what each access unit says about decodability
//! (H.264 7.4.3), read with media-core's bitstream reader from the SPS and the first slice header only — the
//! bits Teams' whole-frame buffers need.

use media_core::h264::{self, NalType, Sps};

/// What one access unit says about decodability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct AuInfo {
    pub(super) idr: bool,
    pub(super) reference: bool,
    pub(super) frame_num: u32,
    /// The frame follows the previous reference frame without a missing reference frame.
    pub(super) continues: bool,
}

/// Tracks `frame_num` across access units (H.264 7.4.3).
#[derive(Default)]
pub(super) struct FrameNumTracker {
    /// The latest SPS that parsed: its `log2_max_frame_num` sizes `frame_num` in slice headers.
    active: Option<Sps>,
    last_ref: Option<u32>,
    /// The latest SPS and PPS seen (to count changes; memory only grows when a larger one comes).
    sps: Vec<u8>,
    pps: Vec<u8>,
    pub(super) changes: u64,
}

/// Remembers `nal` as the latest parameter set in `last`; true when it differs from an earlier one.
fn changed(last: &mut Vec<u8>, nal: &[u8]) -> bool {
    if last.as_slice() == nal {
        return false;
    }
    let had = !last.is_empty();
    last.clear();
    last.extend_from_slice(nal);
    had
}

/// `frame_num` of a slice NAL unit (header byte included) under `sps`.
fn frame_num(slice: &[u8], sps: &Sps) -> Option<u32> {
    h264::parse_slice_header(slice, sps)
        .ok()
        .map(|h| h.frame_num)
}

impl FrameNumTracker {
    pub(super) fn inspect(&mut self, au: &[u8]) -> Option<AuInfo> {
        let mut slice = None;
        // An SPS and PPS that change together are one change.
        let mut new_params = false;
        for nal in h264::nal_units(au) {
            let b = nal.bytes();
            match nal.nal_type() {
                NalType::SPS => {
                    if let Ok(sps) = h264::parse_sps(b) {
                        self.active = Some(sps);
                    }
                    new_params |= changed(&mut self.sps, b);
                }
                NalType::PPS => new_params |= changed(&mut self.pps, b),
                t if t.is_slice() && slice.is_none() => {
                    slice = Some((t == NalType::IDR, nal.ref_idc() != 0, b))
                }
                _ => {}
            }
        }
        self.changes += u64::from(new_params);
        let (idr, reference, bytes) = slice?;
        let Some(sps) = self.active else {
            // No SPS seen yet: only an IDR (which carries frame_num 0) can start the stream.
            return Some(AuInfo {
                idr,
                reference,
                frame_num: 0,
                continues: idr,
            });
        };
        let frame_num = frame_num(bytes, &sps).unwrap_or(0);
        let max = 1u32 << sps.log2_max_frame_num;
        let continues = idr
            || match self.last_ref {
                Some(l) => frame_num == l || frame_num == (l + 1) % max,
                None => false,
            };
        Some(AuInfo {
            idr,
            reference,
            frame_num,
            continues,
        })
    }

    pub(super) fn accept(&mut self, info: &AuInfo) {
        if info.reference || info.idr {
            self.last_ref = Some(info.frame_num);
        }
    }
}

/// What an access unit says on arrival: IDR, reference, `frame_num` and the `log2_max_frame_num` it was read
/// with (from `active`: the latest SPS received, updated by the AU's own); `None` without a slice or a known
/// SPS.
pub(super) fn peek(au: &[u8], active: &mut Option<Sps>) -> Option<(bool, bool, u32, u32)> {
    for nal in h264::nal_units(au) {
        match nal.nal_type() {
            NalType::SPS => {
                if let Ok(sps) = h264::parse_sps(nal.bytes()) {
                    *active = Some(sps);
                }
            }
            t if t.is_slice() => {
                let sps = (*active)?;
                let n = frame_num(nal.bytes(), &sps)?;
                let bits = u32::from(sps.log2_max_frame_num);
                return Some((t == NalType::IDR, nal.ref_idc() != 0, n, bits));
            }
            _ => {}
        }
    }
    None
}
