//! The MP4 sample format: NAL units behind big-endian length prefixes (`avc1` samples, sized by `avcC`).

use super::nal::{nal_units, NalType, NalUnit};
use super::H264Error;

/// Iterator over the NAL units of a length-prefixed sample, made by [`length_prefixed_units`].
///
/// Each item is a unit or the error that ends the walk: after an error the iterator yields nothing more.
///
/// ```
/// use media_core::h264::{length_prefixed_units, LengthPrefixedUnits};
/// let mut units: LengthPrefixedUnits<'_> = length_prefixed_units(&[0, 2, 0x41, 0x9A], 2)?;
/// assert_eq!(units.next().map(|u| u.map(|n| n.bytes())), Some(Ok(&[0x41, 0x9A][..])));
/// assert!(units.next().is_none());
/// # Ok::<(), media_core::h264::H264Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LengthPrefixedUnits<'a> {
    sample: &'a [u8],
    pos: usize,
    length_size: usize,
    failed: bool,
}

/// Walks a length-prefixed sample (`length_size` bytes per prefix, 1 to 4, as `avcC`'s
/// `lengthSizeMinusOne + 1` says), without copying. [`NalUnit::range`] gives each unit's place in the sample.
///
/// # Errors
/// [`H264Error::LengthSize`] for a prefix size outside 1 to 4. The iterator itself yields
/// [`H264Error::TruncatedLengthPrefix`], [`H264Error::LengthPastEnd`] or [`H264Error::EmptyNalUnit`] for a
/// broken sample, and then stops.
///
/// ```
/// use media_core::h264::{length_prefixed_units, H264Error};
/// let sample = [0, 0, 0, 2, 0x06, 5, 0, 0, 0, 3, 0x65, 7, 7];
/// let units: Vec<&[u8]> = length_prefixed_units(&sample, 4)?.map(|u| u.map(|n| n.bytes())).collect::<Result<_, _>>()?;
/// assert_eq!(units, [&[0x06, 5][..], &[0x65, 7, 7][..]]);
/// let broken: Vec<_> = length_prefixed_units(&[0, 9, 0x41], 2)?.collect();
/// assert_eq!(broken, [Err(H264Error::LengthPastEnd { len: 9, left: 1 })]);
/// # Ok::<(), H264Error>(())
/// ```
pub fn length_prefixed_units(
    sample: &[u8],
    length_size: usize,
) -> Result<LengthPrefixedUnits<'_>, H264Error> {
    if !(1..=4).contains(&length_size) {
        return Err(H264Error::LengthSize { size: length_size });
    }
    Ok(LengthPrefixedUnits {
        sample,
        pos: 0,
        length_size,
        failed: false,
    })
}

impl<'a> LengthPrefixedUnits<'a> {
    fn step(&mut self) -> Result<NalUnit<'a>, H264Error> {
        let rest = self.sample.get(self.pos..).unwrap_or_default();
        let (prefix, tail) =
            rest.split_at_checked(self.length_size)
                .ok_or(H264Error::TruncatedLengthPrefix {
                    size: self.length_size,
                    left: rest.len(),
                })?;
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let unit = tail.get(..len).ok_or(H264Error::LengthPastEnd {
            len,
            left: tail.len(),
        })?;
        let start = self.pos + self.length_size;
        self.pos = start + len;
        NalUnit::at(unit, start).ok_or(H264Error::EmptyNalUnit)
    }
}

impl<'a> Iterator for LengthPrefixedUnits<'a> {
    type Item = Result<NalUnit<'a>, H264Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.sample.len() {
            return None;
        }
        let item = self.step();
        self.failed = item.is_err();
        Some(item)
    }
}

impl std::iter::FusedIterator for LengthPrefixedUnits<'_> {}

/// Appends the NAL units of an Annex-B buffer to `out` behind 4-byte big-endian length prefixes (the `avc1`
/// sample format) and returns how many it wrote. With `include_parameter_sets == false`, SPS, PPS and access
/// unit delimiters are left out (they belong in `avcC`).
///
/// # Errors
/// [`H264Error::NalUnitTooLong`] for a unit of 4 GiB or more (`out` then holds the units before it).
///
/// ```
/// use media_core::h264::annexb_to_length_prefixed;
/// let frame = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 9, 9];
/// let mut sample = Vec::new();
/// assert_eq!(annexb_to_length_prefixed(&frame, &mut sample, false)?, 1);
/// assert_eq!(sample, [0, 0, 0, 3, 0x65, 9, 9]);
/// # Ok::<(), media_core::h264::H264Error>(())
/// ```
pub fn annexb_to_length_prefixed(
    buf: &[u8],
    out: &mut Vec<u8>,
    include_parameter_sets: bool,
) -> Result<usize, H264Error> {
    let mut n = 0;
    for nal in nal_units(buf) {
        if !include_parameter_sets
            && matches!(nal.nal_type(), NalType::SPS | NalType::PPS | NalType::AUD)
        {
            continue;
        }
        let bytes = nal.bytes();
        let len = u32::try_from(bytes.len())
            .map_err(|_| H264Error::NalUnitTooLong { len: bytes.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
        n += 1;
    }
    Ok(n)
}

/// Appends a length-prefixed sample (`length_size` bytes per prefix, 1 to 4) to `out` as Annex-B with 4-byte
/// start codes and returns how many units it wrote.
///
/// # Errors
/// As [`length_prefixed_units`]; `out` then holds the units before the broken one.
///
/// ```
/// use media_core::h264::length_prefixed_to_annexb;
/// let mut frame = Vec::new();
/// assert_eq!(length_prefixed_to_annexb(&[0, 2, 0x41, 0x9A, 0, 1, 0x0C], 2, &mut frame)?, 2);
/// assert_eq!(frame, [0, 0, 0, 1, 0x41, 0x9A, 0, 0, 0, 1, 0x0C]);
/// assert!(length_prefixed_to_annexb(&[0, 0, 0, 9, 1], 4, &mut frame).is_err());
/// # Ok::<(), media_core::h264::H264Error>(())
/// ```
pub fn length_prefixed_to_annexb(
    sample: &[u8],
    length_size: usize,
    out: &mut Vec<u8>,
) -> Result<usize, H264Error> {
    let mut n = 0;
    for nal in length_prefixed_units(sample, length_size)? {
        let nal = nal?;
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal.bytes());
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_between_annexb_and_length_prefixes() {
        let buf = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 9, 9,
        ];
        let mut avcc = Vec::new();
        assert_eq!(annexb_to_length_prefixed(&buf, &mut avcc, true).unwrap(), 3);
        let mut back = Vec::new();
        assert_eq!(length_prefixed_to_annexb(&avcc, 4, &mut back).unwrap(), 3);
        let a: Vec<&[u8]> = nal_units(&buf).map(|n| n.bytes()).collect();
        let b: Vec<&[u8]> = nal_units(&back).map(|n| n.bytes()).collect();
        assert_eq!(a, b);
        let ranges: Vec<_> = length_prefixed_units(&avcc, 4)
            .unwrap()
            .map(|n| n.unwrap().range())
            .collect();
        assert_eq!(ranges, [4..7, 11..13, 17..20]);
    }

    #[test]
    fn broken_samples_are_typed_errors_and_end_the_walk() {
        type Walk<'a> = Result<Vec<Result<NalUnit<'a>, H264Error>>, H264Error>;
        fn walk(s: &[u8], size: usize) -> Walk<'_> {
            length_prefixed_units(s, size).map(|u| u.collect())
        }
        assert_eq!(
            walk(&[0, 1], 0).unwrap_err(),
            H264Error::LengthSize { size: 0 }
        );
        assert_eq!(
            walk(&[0, 1], 5).unwrap_err(),
            H264Error::LengthSize { size: 5 }
        );
        assert_eq!(
            walk(&[0, 0], 4).unwrap(),
            [Err(H264Error::TruncatedLengthPrefix { size: 4, left: 2 })]
        );
        assert_eq!(
            walk(&[0, 0, 0x41, 0, 1], 2).unwrap(),
            [Err(H264Error::EmptyNalUnit)]
        );
        // A 3-byte prefix (expressible in avcC) works.
        let units = walk(&[0, 0, 1, 0x41, 0, 0, 2, 0x65, 1], 3).unwrap();
        assert_eq!(units.len(), 2);
        assert!(units.iter().all(Result::is_ok));
        assert!(walk(&[], 4).unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn any_bytes_walk_without_panicking(
            sample in proptest::collection::vec(any::<u8>(), 0..64),
            size in 0usize..6,
        ) {
            let mut out = Vec::new();
            let converted = length_prefixed_to_annexb(&sample, size, &mut out);
            if let Ok(units) = length_prefixed_units(&sample, size) {
                let mut bytes = 0;
                for u in units.flatten() {
                    prop_assert_eq!(&sample[u.range()], u.bytes());
                    bytes += 4 + u.bytes().len();
                }
                prop_assert_eq!(out.len(), bytes);
            } else {
                prop_assert!(converted.is_err() && out.is_empty());
            }
            let mut again = Vec::new();
            let _ = annexb_to_length_prefixed(&sample, &mut again, size % 2 == 0);
        }
    }
}
