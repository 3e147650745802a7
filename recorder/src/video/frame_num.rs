//! H.264 `frame_num` tracking for the passthrough track: what each access unit says about decodability
//! (H.264 7.4.3), read from the SPS and the first slice header only — the bits Teams' whole-frame buffers need.

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
    log2_max_frame_num: Option<u32>,
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

impl FrameNumTracker {
    pub(super) fn inspect(&mut self, au: &[u8]) -> Option<AuInfo> {
        let mut slice = None;
        // An SPS and PPS that change together are one change.
        let mut new_params = false;
        for nal in codecs::h264::nal::nal_units(au) {
            let b = nal.bytes();
            match b.first().map(|h| h & 0x1f) {
                Some(7) => {
                    if let Some(l) = sps_log2_max_frame_num(b) {
                        self.log2_max_frame_num = Some(l);
                    }
                    new_params |= changed(&mut self.sps, b);
                }
                Some(8) => new_params |= changed(&mut self.pps, b),
                Some(t @ (1 | 5)) if slice.is_none() => {
                    slice = Some((t == 5, nal.ref_idc() != 0, b))
                }
                _ => {}
            }
        }
        self.changes += u64::from(new_params);
        let (idr, reference, bytes) = slice?;
        let Some(bits) = self.log2_max_frame_num else {
            // No SPS seen yet: only an IDR (which carries frame_num 0) can start the stream.
            return Some(AuInfo {
                idr,
                reference,
                frame_num: 0,
                continues: idr,
            });
        };
        let frame_num = slice_frame_num(bytes, bits).unwrap_or(0);
        let max = 1u32 << bits;
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
/// with (`bits`: the latest SPS received, updated by the AU's own); `None` without a slice or a known SPS.
pub(super) fn peek(au: &[u8], bits: &mut Option<u32>) -> Option<(bool, bool, u32, u32)> {
    for nal in codecs::h264::nal::nal_units(au) {
        let b = nal.bytes();
        match b.first().map(|h| h & 0x1f) {
            Some(7) => *bits = sps_log2_max_frame_num(b).or(*bits),
            Some(t @ (1 | 5)) => {
                let n = (*bits)?;
                return Some((t == 5, nal.ref_idc() != 0, slice_frame_num(b, n)?, n));
            }
            _ => {}
        }
    }
    None
}

/// Reads bits from an RBSP, skipping emulation-prevention bytes.
struct Bits<'a> {
    data: &'a [u8],
    byte: usize,
    bit: u32,
    zeros: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            byte: 0,
            bit: 0,
            zeros: 0,
        }
    }
    fn u1(&mut self) -> Option<u32> {
        if self.bit == 0 {
            // Skip an emulation prevention byte (0x03 after two zero bytes).
            let b = *self.data.get(self.byte)?;
            if self.zeros >= 2 && b == 3 {
                self.byte += 1;
                self.zeros = 0;
            }
            let b = *self.data.get(self.byte)?;
            self.zeros = if b == 0 { self.zeros + 1 } else { 0 };
        }
        let b = *self.data.get(self.byte)?;
        let v = (b >> (7 - self.bit)) & 1;
        self.bit += 1;
        if self.bit == 8 {
            self.bit = 0;
            self.byte += 1;
        }
        Some(v as u32)
    }
    fn u(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n.min(32) {
            v = (v << 1) | self.u1()?;
        }
        Some(v)
    }
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.u1()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.u(zeros)?;
        Some(((1u64 << zeros) - 1 + rest as u64).min(u32::MAX as u64) as u32)
    }
}

/// `log2_max_frame_num` from an SPS NAL unit (header byte included); `None` for SPS forms not handled (scaling
/// matrices in high profiles).
fn sps_log2_max_frame_num(nal: &[u8]) -> Option<u32> {
    let mut r = Bits::new(nal.get(1..)?);
    let profile = r.u(8)?;
    r.u(16)?; // constraint flags + level
    r.ue()?; // sps id
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        if r.ue()? == 3 {
            r.u1()?;
        }
        r.ue()?;
        r.ue()?;
        r.u1()?;
        if r.u1()? == 1 {
            return None;
        }
    }
    let v = r.ue()?;
    (v <= 12).then_some(v + 4)
}

/// `frame_num` from a slice NAL unit (header byte included).
fn slice_frame_num(nal: &[u8], log2_max_frame_num: u32) -> Option<u32> {
    let mut r = Bits::new(nal.get(1..)?);
    r.ue()?; // first_mb_in_slice
    r.ue()?; // slice_type
    r.ue()?; // pps id
    r.u(log2_max_frame_num)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_and_emulation_prevention() {
        // ue(0)=1, ue(1)=010, ue(2)=011, ue(3)=00100 -> 1010 0110 0100 .... = 0xA6 0x40
        let mut r = Bits::new(&[0xA6, 0x40]);
        assert_eq!(
            (r.ue(), r.ue(), r.ue(), r.ue()),
            (Some(0), Some(1), Some(2), Some(3))
        );
        // 00 00 03 01: the 03 is skipped, the next byte read is 01.
        let mut r = Bits::new(&[0, 0, 3, 1]);
        assert_eq!(r.u(24), Some(1));
        assert_eq!(Bits::new(&[0, 0]).ue(), None);
    }
}
