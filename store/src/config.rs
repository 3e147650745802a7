//! Where and how recordings are stored: the `s3://BUCKET/PREFIX` address, Object Lock settings, the upload
//! cadence and the local backlog bound, and the S3 client built from them.

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::types::ObjectLockMode;

use crate::StoreError;

/// A bucket and a key prefix, written `s3://BUCKET/PREFIX` (the prefix may be empty).
///
/// # Examples
/// ```
/// let u = store::StoreUrl::parse("s3://calls/eu/2026").unwrap();
/// assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("calls", "eu/2026"));
/// assert_eq!(u.key("rec-1/manifest.json"), "eu/2026/rec-1/manifest.json");
/// assert!(store::StoreUrl::parse("/tmp/x").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    /// The bucket.
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl StoreUrl {
    /// Parses `s3://BUCKET[/PREFIX]`.
    ///
    /// # Errors
    /// [`StoreError::BadUrl`] for anything else.
    pub fn parse(s: &str) -> Result<StoreUrl, StoreError> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| StoreError::BadUrl(format!("{s:?}: expected s3://BUCKET/PREFIX")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::BadUrl(format!("{s:?}: no bucket")));
        }
        Ok(StoreUrl {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// True when `s` looks like an `s3://` address (for commands that take a folder or a bucket address).
    ///
    /// # Examples
    /// ```
    /// assert!(store::StoreUrl::is_s3("s3://b/p"));
    /// assert!(!store::StoreUrl::is_s3("calls/rec-1"));
    /// ```
    pub fn is_s3(s: &str) -> bool {
        s.starts_with("s3://")
    }

    /// The object key of `rel` under the prefix.
    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// The same bucket with `name` appended to the prefix (a recording's address under a store address).
    ///
    /// # Examples
    /// ```
    /// let u = store::StoreUrl::parse("s3://calls/eu").unwrap().join("rec-1");
    /// assert_eq!(u.to_string(), "s3://calls/eu/rec-1");
    /// ```
    pub fn join(&self, name: &str) -> StoreUrl {
        StoreUrl {
            bucket: self.bucket.clone(),
            prefix: self.key(name.trim_matches('/')),
        }
    }

    /// The last part of the prefix (a recording's name), or the bucket when there is no prefix.
    pub fn name(&self) -> &str {
        self.prefix
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.bucket)
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Object Lock retention mode set on every object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionMode {
    /// Nobody, not even the account's root user, can delete or shorten the retention before it ends.
    Compliance,
    /// Users with `s3:BypassGovernanceRetention` can remove it (for testing a policy, not for SEC 17a-4).
    Governance,
}

impl std::str::FromStr for RetentionMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "compliance" => Ok(RetentionMode::Compliance),
            "governance" => Ok(RetentionMode::Governance),
            _ => Err(format!("{s:?}: expected compliance or governance")),
        }
    }
}

impl RetentionMode {
    pub(crate) fn s3(self) -> ObjectLockMode {
        match self {
            RetentionMode::Compliance => ObjectLockMode::Compliance,
            RetentionMode::Governance => ObjectLockMode::Governance,
        }
    }
}

/// Parses a retention period: a number and a unit, `d` (days) or `y` (365-day years), e.g. `7y`, `30d`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// assert_eq!(store::parse_retention("30d").unwrap(), Duration::from_secs(30 * 86_400));
/// assert_eq!(store::parse_retention("7y").unwrap(), Duration::from_secs(7 * 365 * 86_400));
/// assert!(store::parse_retention("7").is_err());
/// ```
///
/// # Errors
/// A message naming the expected form.
pub fn parse_retention(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?}: expected a number of days or years, e.g. 30d or 7y");
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = n.parse().map_err(|_| bad())?;
    let days = match unit {
        "d" => n,
        "y" => n.checked_mul(365).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if days == 0 {
        return Err(format!("{s:?}: retention must be at least one day"));
    }
    Ok(Duration::from_secs(
        days.checked_mul(86_400).ok_or_else(bad)?,
    ))
}

/// Everything the uploader and the bucket commands need.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Bucket and prefix the recordings go under (`PREFIX/<folder name>/…`).
    pub url: StoreUrl,
    /// S3 endpoint (e.g. `http://127.0.0.1:9000` for a local server; addressed path-style). Default: AWS.
    pub endpoint: Option<String>,
    /// Region (default: the AWS environment's, else `us-east-1`).
    pub region: Option<String>,
    /// How often a segment is uploaded while recording (what a node lost with its disk can lose at most).
    pub upload_interval: Duration,
    /// Object Lock retention from the upload on.
    pub retention: Duration,
    /// Object Lock mode.
    pub mode: RetentionMode,
    /// Legal hold ON on every object.
    pub legal_hold: bool,
    /// Bytes read from the folder and not yet confirmed by the store beyond which the recording fails.
    pub buffer_bytes: u64,
    /// How long the close waits for the last upload before it reports the bucket incomplete.
    pub final_wait: Duration,
    /// Timeout of one request (a store that does not answer counts as down).
    pub request_timeout: Duration,
}

impl StoreConfig {
    /// Defaults: 10 s uploads, 7 years COMPLIANCE retention, no legal hold, 256 MiB backlog, 30 s final wait.
    ///
    /// # Examples
    /// ```
    /// let c = store::StoreConfig::new(store::StoreUrl::parse("s3://calls/eu").unwrap());
    /// assert_eq!(c.upload_interval.as_secs(), 10);
    /// ```
    pub fn new(url: StoreUrl) -> StoreConfig {
        StoreConfig {
            url,
            endpoint: None,
            region: None,
            upload_interval: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 365 * 86_400),
            mode: RetentionMode::Compliance,
            legal_hold: false,
            buffer_bytes: 256 << 20,
            final_wait: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Builds the S3 client: credentials from the standard AWS environment (variables, profile, instance role),
/// no retries of the SDK's own (the uploader retries and counts), a timeout per request.
pub(crate) async fn client(cfg: &StoreConfig) -> aws_sdk_s3::Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = &cfg.region {
        loader = loader.region(Region::new(r.clone()));
    }
    let shared = loader.load().await;
    let mut b = aws_sdk_s3::config::Builder::from(&shared)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3).min(cfg.request_timeout))
                .operation_attempt_timeout(cfg.request_timeout)
                .build(),
        );
    if shared.region().is_none() {
        b = b.region(Region::new("us-east-1"));
    }
    if let Some(e) = &cfg.endpoint {
        b = b.endpoint_url(e).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}
