//! Minimal Annex-B inspection needed at ingest: does a whole H.264 frame contain an IDR slice?
//! (Full parsing lives in `codecs`; the ingest path only needs to flag key frames, without allocating.)

/// Iterates the NAL unit header bytes of an Annex-B buffer (3- or 4-byte start codes).
pub fn nal_types(data: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0usize;
    std::iter::from_fn(move || {
        while i + 3 <= data.len() {
            if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
                i += 3;
                if let Some(&h) = data.get(i) {
                    return Some(h & 0x1f);
                }
                return None;
            }
            i += 1;
        }
        None
    })
}

/// True when the buffer holds an IDR slice (NAL type 5).
pub fn has_idr(data: &[u8]) -> bool {
    nal_types(data).any(|t| t == 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_types_with_both_start_code_lengths() {
        let buf = [
            0, 0, 0, 1, 0x67, 9, 9, 0, 0, 1, 0x68, 1, 0, 0, 0, 1, 0x65, 1, 2,
        ];
        assert_eq!(nal_types(&buf).collect::<Vec<_>>(), vec![7, 8, 5]);
        assert!(has_idr(&buf));
        assert!(!has_idr(&[0, 0, 1, 0x41, 5]));
        assert!(!has_idr(&[0, 0, 1]));
        assert!(!has_idr(&[]));
    }
}
