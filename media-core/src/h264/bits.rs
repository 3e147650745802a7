//! Emulation prevention and the bit reader (fixed-width fields, Exp-Golomb codes) for NAL unit payloads.

use super::H264Error;

/// Appends the RBSP of a NAL unit payload to `out`: every emulation-prevention byte (a `03` after two zero
/// bytes) is dropped, everything else is copied.
///
/// [`BitReader`] drops these bytes itself while it reads; this function is for code that needs the RBSP as
/// bytes.
///
/// ```
/// use media_core::h264::remove_emulation_prevention;
/// let mut rbsp = Vec::new();
/// remove_emulation_prevention(&[0x10, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3], &mut rbsp);
/// assert_eq!(rbsp, [0x10, 0, 0, 1, 0, 0, 0, 0]);
/// ```
pub fn remove_emulation_prevention(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len());
    let mut zeros = 0u8;
    for &b in payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros.saturating_add(1) } else { 0 };
        out.push(b);
    }
}

/// Reads bits, most significant first, from a NAL unit payload (the bytes after the header byte), dropping
/// emulation-prevention bytes on the fly as [`remove_emulation_prevention`] does. It does not allocate.
///
/// Every read names the syntax element it reads; that name is in the error when the payload ends first or
/// the value is out of range.
///
/// ```
/// use media_core::h264::BitReader;
/// // u(4) = 0b1010, then ue: 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3 (se: -0, +1, -1, +2).
/// let mut r = BitReader::new(&[0b1010_1010, 0b0110_0100]);
/// assert_eq!(r.read_bits(4, "nibble")?, 0b1010);
/// assert_eq!(r.read_ue("a")?, 0);
/// assert_eq!(r.read_se("b")?, 1);
/// assert_eq!(r.read_ue_max(2, "c")?, 2);
/// assert_eq!(r.read_ue("d")?, 3);
/// assert!(r.read_flag("past the end").is_err());
/// # Ok::<(), media_core::h264::H264Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte of `data` to load.
    pos: usize,
    /// Zero bytes just loaded in a row (to spot emulation prevention).
    zeros: u8,
    /// The byte being read.
    cur: u8,
    /// Bits of `cur` not read yet.
    bits_left: u8,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `payload`.
    ///
    /// ```
    /// use media_core::h264::BitReader;
    /// assert_eq!(BitReader::new(&[0x80]).read_flag("flag"), Ok(true));
    /// ```
    pub fn new(payload: &'a [u8]) -> Self {
        BitReader {
            data: payload,
            pos: 0,
            zeros: 0,
            cur: 0,
            bits_left: 0,
        }
    }

    fn load(&mut self, field: &'static str) -> Result<u8, H264Error> {
        let mut b = *self
            .data
            .get(self.pos)
            .ok_or(H264Error::Truncated { field })?;
        self.pos += 1;
        if self.zeros >= 2 && b == 3 {
            b = *self
                .data
                .get(self.pos)
                .ok_or(H264Error::Truncated { field })?;
            self.pos += 1;
            self.zeros = 0;
        }
        self.zeros = if b == 0 {
            self.zeros.saturating_add(1)
        } else {
            0
        };
        Ok(b)
    }

    fn bit(&mut self, field: &'static str) -> Result<u32, H264Error> {
        if self.bits_left == 0 {
            self.cur = self.load(field)?;
            self.bits_left = 8;
        }
        self.bits_left -= 1;
        Ok(u32::from((self.cur >> self.bits_left) & 1))
    }

    /// Reads one bit as a flag, `u(1)`.
    ///
    /// # Errors
    /// [`H264Error::Truncated`] when the payload has no bit left.
    ///
    /// ```
    /// use media_core::h264::BitReader;
    /// let mut r = BitReader::new(&[0b0100_0000]);
    /// assert_eq!((r.read_flag("a")?, r.read_flag("b")?), (false, true));
    /// # Ok::<(), media_core::h264::H264Error>(())
    /// ```
    pub fn read_flag(&mut self, field: &'static str) -> Result<bool, H264Error> {
        Ok(self.bit(field)? == 1)
    }

    /// Reads `n` bits (0 to 32) as an unsigned number, `u(n)`.
    ///
    /// # Errors
    /// [`H264Error::Truncated`] when the payload ends first; [`H264Error::OutOfRange`] for `n` above 32.
    ///
    /// ```
    /// use media_core::h264::BitReader;
    /// let mut r = BitReader::new(&[0x42, 0xC0, 0x1F]);
    /// assert_eq!(r.read_bits(8, "profile_idc")?, 66);
    /// assert_eq!(r.read_bits(16, "rest")?, 0xC01F);
    /// assert!(r.read_bits(33, "too wide").is_err());
    /// # Ok::<(), media_core::h264::H264Error>(())
    /// ```
    pub fn read_bits(&mut self, n: u32, field: &'static str) -> Result<u32, H264Error> {
        if n > 32 {
            return Err(H264Error::OutOfRange {
                field,
                value: i64::from(n),
            });
        }
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit(field)?);
        }
        // At most 32 bits were read, so the value fits.
        Ok(u32::try_from(v).unwrap_or(u32::MAX))
    }

    /// Reads an unsigned Exp-Golomb code, `ue(v)` (values up to 2^32 - 2).
    ///
    /// # Errors
    /// [`H264Error::Truncated`] when the payload ends first; [`H264Error::ExpGolombTooLong`] for a code with
    /// more than 31 leading zero bits.
    ///
    /// ```
    /// use media_core::h264::{BitReader, H264Error};
    /// assert_eq!(BitReader::new(&[0b0001_0011]).read_ue("x"), Ok(8));
    /// assert_eq!(
    ///     BitReader::new(&[0; 5]).read_ue("x"),
    ///     Err(H264Error::ExpGolombTooLong { field: "x" })
    /// );
    /// ```
    pub fn read_ue(&mut self, field: &'static str) -> Result<u32, H264Error> {
        let mut zeros = 0u32;
        while self.bit(field)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(H264Error::ExpGolombTooLong { field });
            }
        }
        let rest = self.read_bits(zeros, field)?;
        let v = (1u64 << zeros) - 1 + u64::from(rest);
        // zeros <= 31, so v <= 2^32 - 2.
        Ok(u32::try_from(v).unwrap_or(u32::MAX))
    }

    /// Reads an unsigned Exp-Golomb code and checks it against an inclusive upper bound.
    ///
    /// # Errors
    /// As [`read_ue`](Self::read_ue), and [`H264Error::OutOfRange`] for a value above `max`.
    ///
    /// ```
    /// use media_core::h264::{BitReader, H264Error};
    /// assert_eq!(
    ///     BitReader::new(&[0b0001_0011]).read_ue_max(3, "chroma_format_idc"),
    ///     Err(H264Error::OutOfRange { field: "chroma_format_idc", value: 8 })
    /// );
    /// ```
    pub fn read_ue_max(&mut self, max: u32, field: &'static str) -> Result<u32, H264Error> {
        let v = self.read_ue(field)?;
        if v > max {
            return Err(H264Error::OutOfRange {
                field,
                value: i64::from(v),
            });
        }
        Ok(v)
    }

    /// Reads a signed Exp-Golomb code, `se(v)`: code numbers 0, 1, 2, 3, 4 … are 0, 1, -1, 2, -2 …
    ///
    /// # Errors
    /// As [`read_ue`](Self::read_ue).
    ///
    /// ```
    /// use media_core::h264::BitReader;
    /// // 011 -> code 2 -> -1; 00100 -> code 3 -> 2.
    /// let mut r = BitReader::new(&[0b0110_0100]);
    /// assert_eq!((r.read_se("a")?, r.read_se("b")?), (-1, 2));
    /// # Ok::<(), media_core::h264::H264Error>(())
    /// ```
    pub fn read_se(&mut self, field: &'static str) -> Result<i32, H264Error> {
        let k = i64::from(self.read_ue(field)?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        // |v| <= 2^31 - 1 because k <= 2^32 - 2.
        Ok(i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exp_golomb_extremes() {
        // 31 zeros, a one, then 31 ones: the largest code, 2^32 - 2.
        let mut bytes = vec![0u8, 0, 0, 0b0000_0001];
        bytes.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFE]);
        assert_eq!(BitReader::new(&bytes).read_ue("x"), Ok(u32::MAX - 1));
        assert_eq!(BitReader::new(&bytes).read_se("x"), Ok(-(i32::MAX)));
        // The same but one bit short.
        assert_eq!(
            BitReader::new(&bytes[..7]).read_ue("x"),
            Err(H264Error::Truncated { field: "x" })
        );
        assert_eq!(
            BitReader::new(&[]).read_flag("x"),
            Err(H264Error::Truncated { field: "x" })
        );
        assert_eq!(BitReader::new(&[0xFF]).read_bits(0, "x"), Ok(0));
    }

    #[test]
    fn emulation_prevention_is_skipped_while_reading() {
        // 00 00 03 01: the 03 is skipped, so 24 bits read 00 00 01.
        let mut r = BitReader::new(&[0, 0, 3, 1]);
        assert_eq!(r.read_bits(24, "x"), Ok(1));
        // A 03 after only one zero is data.
        let mut r = BitReader::new(&[0, 3]);
        assert_eq!(r.read_bits(16, "x"), Ok(3));
        // A trailing emulation-prevention byte with nothing after it: the payload ends there.
        let mut r = BitReader::new(&[0, 0, 3]);
        assert_eq!(r.read_bits(16, "x"), Ok(0));
        assert!(r.read_flag("x").is_err());
    }

    proptest! {
        /// Reading the payload bit by bit gives exactly the bits of its RBSP.
        #[test]
        fn reader_sees_the_rbsp(
            payload in proptest::collection::vec(prop_oneof![Just(0u8), Just(3u8), any::<u8>()], 0..64)
        ) {
            let mut rbsp = Vec::new();
            remove_emulation_prevention(&payload, &mut rbsp);
            let mut r = BitReader::new(&payload);
            for &byte in &rbsp {
                prop_assert_eq!(r.read_bits(8, "byte"), Ok(u32::from(byte)));
            }
            prop_assert!(r.read_flag("end").is_err());
        }

        /// Exp-Golomb codes written the textbook way read back.
        #[test]
        fn ue_and_se_round_trip(values in proptest::collection::vec(0u32..=u32::MAX - 1, 1..8)) {
            let mut bits = String::new();
            for &v in &values {
                let code = u64::from(v) + 1;
                let len = 64 - code.leading_zeros();
                bits.push_str(&"0".repeat(len as usize - 1));
                bits.push_str(&format!("{code:b}"));
            }
            let bytes: Vec<u8> = bits
                .as_bytes()
                .chunks(8)
                .map(|c| c.iter().enumerate().fold(0u8, |b, (i, &x)| b | (u8::from(x == b'1') << (7 - i))))
                .collect();
            // Put emulation prevention in where an encoder would.
            let mut payload = Vec::new();
            let mut zeros = 0;
            for &b in &bytes {
                if zeros >= 2 && b <= 3 {
                    payload.push(3);
                    zeros = 0;
                }
                zeros = if b == 0 { zeros + 1 } else { 0 };
                payload.push(b);
            }
            let mut r = BitReader::new(&payload);
            for &v in &values {
                prop_assert_eq!(r.read_ue("v"), Ok(v));
            }
            let mut r = BitReader::new(&payload);
            for &v in &values {
                let k = i64::from(v);
                let want = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
                prop_assert_eq!(r.read_se("v").map(i64::from), Ok(want));
            }
        }
    }
}
