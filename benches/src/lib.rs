//! Shared helpers for Verbatim benchmarks.
