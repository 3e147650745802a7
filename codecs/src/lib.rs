//! # codecs — Opus and H.264 (placeholder; see issue 3)
#![deny(missing_docs)]
