//! # muxer — files on disk (placeholder; see issue 4)
#![deny(missing_docs)]
