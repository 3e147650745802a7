//! # verbatim — façade (placeholder)
#![deny(missing_docs)]
