//! # bot-adapter (placeholder)
#![deny(missing_docs)]
