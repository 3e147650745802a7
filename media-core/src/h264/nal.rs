//! NAL unit types, Annex-B splitting and the summary of one access unit.

use std::ops::Range;

use super::H264Error;

/// The 5-bit `nal_unit_type` of a NAL unit header (H.264 Table 7-1).
///
/// Any of the 32 values can be held; the constants name the types a recorder meets. Compare with them or
/// match on them.
///
/// ```
/// use media_core::h264::NalType;
/// let t = NalType::new(0x65); // a whole header byte: only its low 5 bits count
/// assert_eq!(t, NalType::IDR);
/// assert_eq!(t.as_u8(), 5);
/// assert!(t.is_slice());
/// assert!(matches!(NalType::new(7), NalType::SPS | NalType::PPS));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NalType(u8);

impl NalType {
    /// 0: unspecified (never valid in a stream this module accepts whole).
    pub const UNSPECIFIED: NalType = NalType(0);
    /// 1: coded slice of a non-IDR picture.
    pub const NON_IDR: NalType = NalType(1);
    /// 2: coded slice data partition A.
    pub const PARTITION_A: NalType = NalType(2);
    /// 3: coded slice data partition B.
    pub const PARTITION_B: NalType = NalType(3);
    /// 4: coded slice data partition C.
    pub const PARTITION_C: NalType = NalType(4);
    /// 5: coded slice of an IDR picture (a key frame).
    pub const IDR: NalType = NalType(5);
    /// 6: supplemental enhancement information.
    pub const SEI: NalType = NalType(6);
    /// 7: sequence parameter set.
    pub const SPS: NalType = NalType(7);
    /// 8: picture parameter set.
    pub const PPS: NalType = NalType(8);
    /// 9: access unit delimiter.
    pub const AUD: NalType = NalType(9);
    /// 10: end of sequence.
    pub const END_OF_SEQUENCE: NalType = NalType(10);
    /// 11: end of stream.
    pub const END_OF_STREAM: NalType = NalType(11);
    /// 12: filler data.
    pub const FILLER: NalType = NalType(12);
    /// 13: sequence parameter set extension.
    pub const SPS_EXTENSION: NalType = NalType(13);
    /// 14: prefix NAL unit (SVC, MVC).
    pub const PREFIX: NalType = NalType(14);
    /// 15: subset sequence parameter set (SVC, MVC).
    pub const SUBSET_SPS: NalType = NalType(15);
    /// 19: coded slice of an auxiliary picture.
    pub const AUXILIARY_SLICE: NalType = NalType(19);
    /// 20: coded slice extension (SVC, MVC).
    pub const SLICE_EXTENSION: NalType = NalType(20);
    /// 21: coded slice extension for a depth view (3D-AVC).
    pub const DEPTH_SLICE_EXTENSION: NalType = NalType(21);

    /// The type of a `nal_unit_type` value or of a whole header byte: bits above the low five are ignored.
    ///
    /// ```
    /// use media_core::h264::NalType;
    /// assert_eq!(NalType::new(0x41), NalType::NON_IDR);
    /// assert_eq!(NalType::new(8), NalType::PPS);
    /// ```
    pub const fn new(value: u8) -> NalType {
        NalType(value & 0x1F)
    }

    /// The 5-bit value.
    ///
    /// ```
    /// use media_core::h264::NalType;
    /// assert_eq!(NalType::SEI.as_u8(), 6);
    /// ```
    pub const fn as_u8(self) -> u8 {
        self.0
    }

    /// True for the coded slices of primary pictures Teams sends: non-IDR (1) and IDR (5).
    ///
    /// ```
    /// use media_core::h264::NalType;
    /// assert!(NalType::NON_IDR.is_slice() && NalType::IDR.is_slice());
    /// assert!(!NalType::PARTITION_A.is_slice() && !NalType::SPS.is_slice());
    /// ```
    pub const fn is_slice(self) -> bool {
        matches!(self.0, 1 | 5)
    }
}

/// One NAL unit inside a larger buffer: its header byte followed by its payload (emulation-prevention bytes
/// still in place), without start code or length prefix and without trailing zero bytes. Never empty.
///
/// ```
/// use media_core::h264::{nal_units, NalType};
/// let buf = [0, 0, 1, 0x65, 0x88, 0x84];
/// let unit = nal_units(&buf).next().ok_or("no unit")?;
/// assert_eq!(unit.bytes(), &[0x65, 0x88, 0x84]);
/// assert_eq!(unit.range(), 3..6);
/// assert_eq!((unit.nal_type(), unit.ref_idc(), unit.is_idr()), (NalType::IDR, 3, true));
/// # Ok::<(), &str>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NalUnit<'a> {
    bytes: &'a [u8],
    start: usize,
}

impl<'a> NalUnit<'a> {
    /// The unit's bytes, header byte first.
    ///
    /// ```
    /// use media_core::h264::nal_units;
    /// let buf = [0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80];
    /// assert_eq!(nal_units(&buf).next().map(|n| n.bytes()), Some(&buf[4..]));
    /// ```
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The unit's bytes after the header byte (what [`BitReader`](super::BitReader) reads).
    ///
    /// ```
    /// use media_core::h264::nal_units;
    /// let buf = [0, 0, 1, 0x68, 0xCE, 0x3C, 0x80];
    /// assert_eq!(nal_units(&buf).next().map(|n| n.payload()), Some(&buf[4..]));
    /// ```
    pub fn payload(&self) -> &'a [u8] {
        self.bytes.get(1..).unwrap_or_default()
    }

    /// Where the unit lies in the buffer it was split from: slice a `bytes::Bytes` of that buffer with it to
    /// share the unit without copying.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use media_core::h264::nal_units;
    /// let frame = Bytes::from_static(&[0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x65, 0x88]);
    /// let units: Vec<Bytes> = nal_units(&frame).map(|n| frame.slice(n.range())).collect();
    /// assert_eq!(units, [&[0x67, 0x42][..], &[0x65, 0x88][..]]);
    /// ```
    pub fn range(&self) -> Range<usize> {
        self.start..self.start + self.bytes.len()
    }

    /// The header byte.
    ///
    /// ```
    /// use media_core::h264::nal_units;
    /// assert_eq!(nal_units(&[0, 0, 1, 0x41, 0x9A]).next().map(|n| n.header()), Some(0x41));
    /// ```
    pub fn header(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }

    /// The unit's type.
    ///
    /// ```
    /// use media_core::h264::{nal_units, NalType};
    /// assert_eq!(nal_units(&[0, 0, 1, 0x06, 5]).next().map(|n| n.nal_type()), Some(NalType::SEI));
    /// ```
    pub fn nal_type(&self) -> NalType {
        NalType::new(self.header())
    }

    /// `nal_ref_idc`: 0 when the unit is not used for reference.
    ///
    /// ```
    /// use media_core::h264::nal_units;
    /// assert_eq!(nal_units(&[0, 0, 1, 0x01, 0x9A]).next().map(|n| n.ref_idc()), Some(0));
    /// assert_eq!(nal_units(&[0, 0, 1, 0x41, 0x9A]).next().map(|n| n.ref_idc()), Some(2));
    /// ```
    pub fn ref_idc(&self) -> u8 {
        (self.header() >> 5) & 0x3
    }

    /// True when `forbidden_zero_bit` is set: the unit is corrupt.
    ///
    /// ```
    /// use media_core::h264::nal_units;
    /// assert_eq!(nal_units(&[0, 0, 1, 0xE5]).next().map(|n| n.forbidden_bit()), Some(true));
    /// ```
    pub fn forbidden_bit(&self) -> bool {
        self.header() & 0x80 != 0
    }

    /// True for a slice of an IDR picture.
    ///
    /// ```
    /// use media_core::h264::nal_units;
    /// assert_eq!(nal_units(&[0, 0, 1, 0x65, 0x88]).next().map(|n| n.is_idr()), Some(true));
    /// ```
    pub fn is_idr(&self) -> bool {
        self.nal_type() == NalType::IDR
    }

    /// A unit of `bytes` found at `start` of its buffer; `None` when `bytes` is empty.
    pub(super) fn at(bytes: &'a [u8], start: usize) -> Option<Self> {
        (!bytes.is_empty()).then_some(NalUnit { bytes, start })
    }
}

/// Index of the first byte of the next `00 00 01` at or after `from`.
fn find_start_code(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        match buf.get(i..i.checked_add(3)?)? {
            [0, 0, 1] => return Some(i),
            // The third byte could begin or continue a start code: move on by one.
            [_, _, 0 | 1] => i += 1,
            // No start code can cover the third byte: skip past it.
            _ => i += 3,
        }
    }
}

/// Iterator over the NAL units of an Annex-B buffer, made by [`nal_units`].
///
/// ```
/// use media_core::h264::{nal_units, NalUnits};
/// let mut units: NalUnits<'_> = nal_units(&[0, 0, 1, 0x09, 0xF0]);
/// assert_eq!(units.next().map(|n| n.bytes()), Some(&[0x09, 0xF0][..]));
/// assert!(units.next().is_none());
/// ```
#[derive(Clone, Debug)]
pub struct NalUnits<'a> {
    buf: &'a [u8],
    /// Start of the next unit (just after a start code), or `None` when finished.
    next: Option<usize>,
}

/// Splits an Annex-B buffer (3- and 4-byte start codes, mixed freely) into NAL units, without copying.
///
/// Bytes before the first start code, trailing zero bytes of a unit (the first byte of a 4-byte start code,
/// `trailing_zero_8bits`) and units left empty by that are skipped; [`inspect_access_unit`] rejects such
/// buffers instead.
///
/// ```
/// use media_core::h264::nal_units;
/// let buf = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 0, 0, 3, 1, 0, 0];
/// let units: Vec<&[u8]> = nal_units(&buf).map(|n| n.bytes()).collect();
/// assert_eq!(units, [&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 0, 0, 3, 1][..]]);
/// assert_eq!(nal_units(&[1, 2, 3]).count(), 0);
/// ```
pub fn nal_units(buf: &[u8]) -> NalUnits<'_> {
    NalUnits {
        buf,
        next: find_start_code(buf, 0).map(|p| p + 3),
    }
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = NalUnit<'a>;

    fn next(&mut self) -> Option<NalUnit<'a>> {
        loop {
            let start = self.next?;
            let end = match find_start_code(self.buf, start) {
                Some(sc) => {
                    self.next = Some(sc + 3);
                    sc
                }
                None => {
                    self.next = None;
                    self.buf.len()
                }
            };
            let mut unit = self.buf.get(start..end).unwrap_or_default();
            while let [rest @ .., 0] = unit {
                unit = rest;
            }
            if let Some(unit) = NalUnit::at(unit, start) {
                return Some(unit);
            }
        }
    }
}

impl std::iter::FusedIterator for NalUnits<'_> {}

/// True when an Annex-B buffer holds a slice of an IDR picture (the frame is a key frame). Allocation-free.
///
/// ```
/// use media_core::h264::has_idr;
/// assert!(has_idr(&[0, 0, 0, 1, 0x67, 9, 0, 0, 1, 0x68, 1, 0, 0, 0, 1, 0x65, 1, 2]));
/// assert!(!has_idr(&[0, 0, 1, 0x41, 5]));
/// assert!(!has_idr(&[]));
/// ```
pub fn has_idr(buf: &[u8]) -> bool {
    nal_units(buf).any(|n| n.is_idr())
}

/// What one Annex-B access unit (one whole frame, as Teams sends it) holds; made by [`inspect_access_unit`].
///
/// ```
/// use media_core::h264::{inspect_access_unit, AccessUnitInfo};
/// let info: AccessUnitInfo<'_> = inspect_access_unit(&[0, 0, 1, 0x41, 0x9A])?;
/// assert_eq!((info.nal_count, info.has_slice, info.has_idr, info.sps), (1, true, false, None));
/// # Ok::<(), media_core::h264::H264Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessUnitInfo<'a> {
    /// Number of NAL units.
    pub nal_count: usize,
    /// At least one IDR slice: the frame is a key frame.
    pub has_idr: bool,
    /// At least one coded slice (IDR or not).
    pub has_slice: bool,
    /// The first SPS NAL unit (header byte included), if any.
    pub sps: Option<&'a [u8]>,
    /// The first PPS NAL unit (header byte included), if any.
    pub pps: Option<&'a [u8]>,
}

/// Checks and summarises an Annex-B access unit: at least one NAL unit, only zero bytes before the first
/// start code, no unit with `forbidden_zero_bit` set or of type 0.
///
/// # Errors
/// [`H264Error::NoStartCode`], [`H264Error::DataBeforeStartCode`], [`H264Error::ForbiddenBit`],
/// [`H264Error::UnspecifiedNalType`] or [`H264Error::NoNalUnits`].
///
/// ```
/// use media_core::h264::{inspect_access_unit, H264Error};
/// let frame = [0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80, 0, 0, 1, 0x65, 0x88];
/// let info = inspect_access_unit(&frame)?;
/// assert_eq!(info.nal_count, 3);
/// assert!(info.has_idr && info.has_slice);
/// assert_eq!(info.sps, Some(&[0x67, 0x42, 0xC0, 0x1E][..]));
/// assert_eq!(inspect_access_unit(&[5, 0, 0, 1, 0x65]), Err(H264Error::DataBeforeStartCode));
/// # Ok::<(), H264Error>(())
/// ```
pub fn inspect_access_unit(buf: &[u8]) -> Result<AccessUnitInfo<'_>, H264Error> {
    let first = find_start_code(buf, 0).ok_or(H264Error::NoStartCode { len: buf.len() })?;
    if buf.iter().take(first).any(|&b| b != 0) {
        return Err(H264Error::DataBeforeStartCode);
    }
    let mut info = AccessUnitInfo::default();
    for nal in nal_units(buf) {
        if nal.forbidden_bit() {
            return Err(H264Error::ForbiddenBit {
                header: nal.header(),
            });
        }
        info.nal_count += 1;
        match nal.nal_type() {
            NalType::UNSPECIFIED => return Err(H264Error::UnspecifiedNalType),
            NalType::IDR => {
                info.has_idr = true;
                info.has_slice = true;
            }
            NalType::NON_IDR => info.has_slice = true,
            NalType::SPS => {
                info.sps.get_or_insert(nal.bytes());
            }
            NalType::PPS => {
                info.pps.get_or_insert(nal.bytes());
            }
            _ => {}
        }
    }
    if info.nal_count == 0 {
        return Err(H264Error::NoNalUnits { len: buf.len() });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_three_and_four_byte_start_codes_with_ranges() {
        let buf = [
            9, 0, 0, 1, 0x65, 0, 0, 0, 0, 1, 0x41, 7, 0, 0, 1, 0, 0, 0, 1, 0x68, 3,
        ];
        let units: Vec<_> = nal_units(&buf).map(|n| (n.range(), n.bytes())).collect();
        assert_eq!(
            units,
            [
                (4..5, &[0x65][..]),
                (10..12, &[0x41, 7][..]),
                (19..21, &[0x68, 3][..])
            ]
        );
        assert_eq!(nal_units(&[]).count(), 0);
        assert_eq!(nal_units(&[0, 0, 1]).count(), 0);
        assert_eq!(nal_units(&[0, 0, 1, 0, 0, 0, 1]).count(), 0);
        // Two start codes in a row leave an empty unit, which is skipped.
        let units: Vec<_> = nal_units(&[0, 0, 1, 0, 0, 1, 0x09, 0x10])
            .map(|n| n.bytes())
            .collect();
        assert_eq!(units, [&[0x09, 0x10][..]]);
    }

    #[test]
    fn has_idr_sees_idr_behind_either_start_code() {
        let buf = [
            0, 0, 0, 1, 0x67, 9, 9, 0, 0, 1, 0x68, 1, 0, 0, 0, 1, 0x65, 1, 2,
        ];
        let types: Vec<u8> = nal_units(&buf).map(|n| n.nal_type().as_u8()).collect();
        assert_eq!(types, [7, 8, 5]);
        assert!(has_idr(&buf));
        assert!(has_idr(&[0, 0, 1, 0x25]));
        assert!(!has_idr(&[0, 0, 1]));
        assert!(!has_idr(&[0x65, 0x65]));
    }

    #[test]
    fn inspect_rejects_what_is_not_an_access_unit() {
        assert_eq!(
            inspect_access_unit(&[1, 2, 3]),
            Err(H264Error::NoStartCode { len: 3 })
        );
        assert_eq!(
            inspect_access_unit(&[0, 0, 1, 0xE5]),
            Err(H264Error::ForbiddenBit { header: 0xE5 })
        );
        assert_eq!(
            inspect_access_unit(&[0, 0, 1, 0x00, 5]),
            Err(H264Error::UnspecifiedNalType)
        );
        assert_eq!(
            inspect_access_unit(&[0, 0, 1, 0, 0, 1]),
            Err(H264Error::NoNalUnits { len: 6 })
        );
        // Leading zero bytes (a 4-byte start code, or more zeros) are fine.
        let info = inspect_access_unit(&[0, 0, 0, 0, 0, 1, 0x41, 1]).unwrap();
        assert!(info.has_slice && !info.has_idr && info.pps.is_none());
    }

    /// A splitter written the obvious way (every position checked): the reference for the fast one.
    fn reference_split(buf: &[u8]) -> Vec<Range<usize>> {
        let starts: Vec<usize> = (0..buf.len().saturating_sub(2))
            .filter(|&i| buf[i..i + 3] == [0, 0, 1])
            .collect();
        let mut out = Vec::new();
        for (k, &s) in starts.iter().enumerate() {
            // Two start codes cannot overlap, so the next one begins at or after this unit.
            let begin = s + 3;
            let mut end = starts.get(k + 1).copied().unwrap_or(buf.len());
            while end > begin && buf[end - 1] == 0 {
                end -= 1;
            }
            if end > begin {
                out.push(begin..end);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn split_matches_the_reference_on_any_bytes(
            buf in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(3u8), any::<u8>()], 0..200)
        ) {
            let got: Vec<Range<usize>> = nal_units(&buf).map(|n| n.range()).collect();
            prop_assert_eq!(&got, &reference_split(&buf));
            for n in nal_units(&buf) {
                prop_assert!(!n.bytes().is_empty());
                prop_assert_eq!(&buf[n.range()], n.bytes());
            }
            if let Ok(info) = inspect_access_unit(&buf) {
                prop_assert_eq!(info.nal_count, got.len());
                prop_assert_eq!(info.has_idr, has_idr(&buf));
            }
        }
    }
}
