//! The command line's WORM object storage: `record`/`listen --store s3://BUCKET/PREFIX` and its options,
//! `verify`/`recover` of an `s3://` recording (replayed into a temporary folder), and `hold set|release`.
//! The work is the `store` crate's; this module turns flags into its [`store::StoreConfig`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use store::{Bucket, RetentionMode, StoreConfig, StoreUrl};

/// Where the bucket is (endpoint and region); credentials come from the standard AWS environment
/// (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, `AWS_PROFILE`, an instance role), never
/// from flags (a command line is visible to every user of the machine).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EndpointArgs {
    /// S3 endpoint URL of an S3-compatible store (addressed path-style), e.g. http://127.0.0.1:9000;
    /// default: AWS S3 (HTTPS).
    #[arg(long, value_name = "URL")]
    pub store_endpoint: Option<String>,
    /// Region of the bucket (default: the AWS environment's, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub store_region: Option<String>,
}

/// `record`/`listen`: upload each recording while it runs.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// Upload every recording while it runs to this bucket, as Object-Locked objects under
    /// PREFIX/<folder>/ (see docs/storage.md). The local folder is kept.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub store: Option<String>,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// How often a segment is uploaded: a node lost mid-call, disk and all, loses at most this much from
    /// the bucket.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub upload_interval: Duration,
    /// Object Lock retention of every object from its upload: days or years, e.g. 30d, 7y.
    #[arg(long, value_name = "PERIOD", default_value = "7y", value_parser = store::parse_retention)]
    pub retention: Duration,
    /// Object Lock mode: compliance (nobody can delete before the date) or governance.
    #[arg(long, value_name = "MODE", default_value = "compliance")]
    pub retention_mode: RetentionMode,
    /// Put every object under legal hold (release later with `verbatim hold release`).
    #[arg(long)]
    pub legal_hold: bool,
    /// Bytes read and not yet confirmed by the store beyond which the call fails (loudly: the recording
    /// closes `failed`, the local folder complete), e.g. 256MiB.
    #[arg(long, value_name = "BYTES", default_value = "256MiB", value_parser = parse_bytes)]
    pub store_buffer: u64,
    /// How long the close waits for the last upload before reporting the bucket incomplete.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub store_final_wait: Duration,
}

/// Parses a byte count: a number with an optional `KiB`, `MiB`, `GiB` (or `K`, `M`, `G`) suffix.
///
/// # Examples
/// ```text
/// parse_bytes("256MiB") == Ok(256 << 20); parse_bytes("4096") == Ok(4096); parse_bytes("lots") is an error
/// ```
///
/// # Errors
/// A message naming the expected form.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a byte count, e.g. 256MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(format!("{s:?}: unit must be KiB, MiB or GiB")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?}: too large"))
}

impl EndpointArgs {
    /// The configuration for bucket commands on `url`.
    pub(crate) fn config(&self, url: StoreUrl) -> StoreConfig {
        let mut c = StoreConfig::new(url);
        c.endpoint = self.store_endpoint.clone();
        c.region = self.store_region.clone();
        c
    }
}

impl StoreArgs {
    /// The uploader's configuration, `None` without `--store`.
    ///
    /// # Errors
    /// A bad `--store` address.
    pub fn config(&self) -> Result<Option<StoreConfig>> {
        let Some(s) = &self.store else {
            return Ok(None);
        };
        let mut c = self.endpoint.config(StoreUrl::parse(s)?);
        c.upload_interval = self.upload_interval.max(Duration::from_millis(100));
        c.retention = self.retention;
        c.mode = self.retention_mode;
        c.legal_hold = self.legal_hold;
        c.buffer_bytes = self.store_buffer;
        c.final_wait = self.store_final_wait;
        Ok(Some(c))
    }
}

/// `verbatim hold set|release s3://BUCKET/PREFIX/<recording>`.
#[derive(clap::Args, Debug)]
pub struct HoldArgs {
    /// set (legal hold ON on every object of the recording) or release (OFF).
    #[arg(value_parser = ["set", "release"])]
    pub action: String,
    /// The recording: s3://BUCKET/PREFIX/<recording folder name>.
    pub recording: String,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

/// Runs `hold`.
///
/// # Errors
/// A bad address, or the store refused.
pub fn hold(a: HoldArgs) -> Result<()> {
    let url = StoreUrl::parse(&a.recording)?;
    let b = Bucket::connect(&a.endpoint.config(url.clone()))?;
    let on = a.action == "set";
    let n = b.set_legal_hold(&url, on)?;
    println!(
        "legal hold {} on {n} objects of {url}",
        if on { "SET" } else { "RELEASED" }
    );
    Ok(())
}

/// A temporary folder removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(url: &StoreUrl) -> Result<TempDir> {
    let base = std::env::temp_dir().join(format!(
        "verbatim-s3-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let dir = base.join(url.name());
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    Ok(TempDir(base))
}

/// For `verify`/`recover` of an `s3://` address: the recording replayed into a temporary folder (kept while
/// the returned guard lives), the bucket, and what the replay found; `None` for a local folder.
///
/// # Errors
/// A bad address, a broken object log, or the store refused.
pub fn replayed(
    dir: &Path,
    endpoint: &EndpointArgs,
    segments_only: bool,
) -> Result<Option<(PathBuf, TempDir, Bucket, StoreUrl)>> {
    let Some(s) = dir.to_str().filter(|s| StoreUrl::is_s3(s)) else {
        return Ok(None);
    };
    let url = StoreUrl::parse(s)?;
    if url.prefix.is_empty() {
        bail!("{s}: name the recording: s3://BUCKET/PREFIX/<recording>");
    }
    let bucket = Bucket::connect(&endpoint.config(url.clone()))?;
    let tmp = temp_dir(&url)?;
    let into = tmp.path().join(url.name());
    let r = if segments_only {
        bucket.replay_segments(&url, &into)
    } else {
        bucket.replay(&url, &into)
    }
    .with_context(|| format!("replaying {url}"))?;
    eprintln!("verbatim: {url}: {}", r.to_text());
    if r.mismatches > 0 {
        eprintln!(
            "verbatim: {url}: {} data regions were uploaded NOT matching their records",
            r.mismatches
        );
    }
    Ok(Some((into, tmp, bucket, url)))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("1TiB").is_err());
    }
}
