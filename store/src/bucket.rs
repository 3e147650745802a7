//! Blocking access to the bucket (its own small tokio runtime, so callers need none): locked PUTs with
//! checksums, listing, reading, legal hold, and creating a bucket with Object Lock (for tests and set-up).

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus};
use base64::Engine as _;
use md5::Digest as _;

use crate::config::{client, StoreConfig, StoreUrl};
use crate::StoreError;

/// A connection to the store of a [`StoreConfig`].
///
/// # Examples
/// ```no_run
/// let mut cfg = store::StoreConfig::new(store::StoreUrl::parse("s3://calls/eu").unwrap());
/// cfg.endpoint = Some("http://127.0.0.1:9000".into());
/// let b = store::Bucket::connect(&cfg).unwrap();
/// let keys = b.list("eu/rec-1/").unwrap();
/// # let _ = keys;
/// ```
pub struct Bucket {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    cfg: StoreConfig,
}

/// An object's Object Lock state ([`Bucket::lock_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockState {
    /// `COMPLIANCE` or `GOVERNANCE`, when retained.
    pub mode: Option<String>,
    /// Retain-until, Unix seconds.
    pub retain_until_secs: Option<i64>,
    /// Legal hold ON.
    pub legal_hold: bool,
    /// Size in bytes.
    pub size: u64,
}

/// An object as listed: key and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

fn err(what: &str, key: &str, e: impl std::fmt::Debug) -> StoreError {
    // The SDK's Display is terse ("service error"); its Debug names the code and message.
    let text = format!("{e:?}");
    let text: String = text.chars().take(300).collect();
    StoreError::S3(format!("{what} {key}: {text}"))
}

impl Bucket {
    /// Builds the client (credentials from the AWS environment; nothing is sent yet).
    ///
    /// # Errors
    /// [`StoreError::Local`] when the runtime cannot start.
    pub fn connect(cfg: &StoreConfig) -> Result<Bucket, StoreError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Local(format!("tokio runtime: {e}")))?;
        let client = rt.block_on(client(cfg));
        Ok(Bucket {
            rt,
            client,
            cfg: cfg.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// Writes a new object with Object Lock (mode and retain-until from the configuration, legal hold when
    /// asked), a Content-MD5 and an `x-amz-checksum-sha256`; returns how long the store took.
    ///
    /// # Errors
    /// [`StoreError::S3`] (refused, timed out, unreachable).
    pub fn put_locked(&self, key: &str, bytes: &[u8]) -> Result<Duration, StoreError> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(bytes));
        let sha = base64::engine::general_purpose::STANDARD
            .encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        let until = SystemTime::now() + self.cfg.retention;
        let secs = until
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut req = self
            .client
            .put_object()
            .bucket(&self.cfg.url.bucket)
            .key(key)
            .body(ByteStream::from(bytes.to_vec()))
            .content_md5(md5)
            .checksum_sha256(sha)
            .object_lock_mode(self.cfg.mode.s3())
            .object_lock_retain_until_date(DateTime::from_secs(secs));
        if self.cfg.legal_hold {
            req = req.object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On);
        }
        let t0 = Instant::now();
        self.rt
            .block_on(req.send())
            .map_err(|e| err("PUT", key, e))?;
        Ok(t0.elapsed())
    }

    /// Every object under `prefix` (all pages), in key order.
    ///
    /// # Errors
    /// [`StoreError::S3`].
    pub fn list(&self, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let r = self
                .rt
                .block_on(
                    self.client
                        .list_objects_v2()
                        .bucket(&self.cfg.url.bucket)
                        .prefix(prefix)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .map_err(|e| err("LIST", prefix, e))?;
            for o in r.contents() {
                if let Some(k) = o.key() {
                    out.push(Listed {
                        key: k.to_string(),
                        size: o.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            match r.next_continuation_token() {
                Some(t) if r.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// An object's bytes; `Ok(None)` when there is no such key.
    ///
    /// # Errors
    /// [`StoreError::S3`].
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.rt.block_on(
            self.client
                .get_object()
                .bucket(&self.cfg.url.bucket)
                .key(key)
                .send(),
        );
        let r = match r {
            Ok(r) => r,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(err("GET", key, e)),
        };
        let body = self
            .rt
            .block_on(r.body.collect())
            .map_err(|e| err("GET body", key, e))?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    /// Sets (`on`) or releases the legal hold of every object of the recording at `rec`; returns how many.
    ///
    /// # Errors
    /// [`StoreError::S3`]; [`StoreError::NotFound`] when the recording has no object.
    pub fn set_legal_hold(&self, rec: &StoreUrl, on: bool) -> Result<usize, StoreError> {
        let objects = self.list(&format!("{}/", rec.prefix))?;
        if objects.is_empty() {
            return Err(StoreError::NotFound(rec.to_string()));
        }
        let status = if on {
            ObjectLockLegalHoldStatus::On
        } else {
            ObjectLockLegalHoldStatus::Off
        };
        for o in &objects {
            self.rt
                .block_on(
                    self.client
                        .put_object_legal_hold()
                        .bucket(&rec.bucket)
                        .key(&o.key)
                        .legal_hold(
                            ObjectLockLegalHold::builder()
                                .status(status.clone())
                                .build(),
                        )
                        .send(),
                )
                .map_err(|e| err("PUT legal-hold", &o.key, e))?;
        }
        Ok(objects.len())
    }

    /// The legal hold of one object (`true`: ON).
    ///
    /// # Errors
    /// [`StoreError::S3`].
    pub fn legal_hold(&self, key: &str) -> Result<bool, StoreError> {
        let r = self
            .rt
            .block_on(
                self.client
                    .get_object_legal_hold()
                    .bucket(&self.cfg.url.bucket)
                    .key(key)
                    .send(),
            )
            .map_err(|e| err("GET legal-hold", key, e))?;
        Ok(r.legal_hold().and_then(|h| h.status()) == Some(&ObjectLockLegalHoldStatus::On))
    }

    /// An object's Object Lock state as HeadObject reports it (moto 5.2 answers GetObjectRetention with an
    /// error, HeadObject works on every server tried).
    ///
    /// # Errors
    /// [`StoreError::S3`].
    pub fn lock_state(&self, key: &str, version: Option<&str>) -> Result<LockState, StoreError> {
        let r = self
            .rt
            .block_on(
                self.client
                    .head_object()
                    .bucket(&self.cfg.url.bucket)
                    .key(key)
                    .set_version_id(version.map(str::to_string))
                    .send(),
            )
            .map_err(|e| err("HEAD", key, e))?;
        Ok(LockState {
            mode: r.object_lock_mode().map(|m| m.as_str().to_string()),
            retain_until_secs: r.object_lock_retain_until_date().map(|d| d.secs()),
            legal_hold: r.object_lock_legal_hold_status() == Some(&ObjectLockLegalHoldStatus::On),
            size: r.content_length().unwrap_or(0).max(0) as u64,
        })
    }

    /// The version ids of `key`, newest first.
    ///
    /// # Errors
    /// [`StoreError::S3`].
    pub fn versions(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let r = self
            .rt
            .block_on(
                self.client
                    .list_object_versions()
                    .bucket(&self.cfg.url.bucket)
                    .prefix(key)
                    .send(),
            )
            .map_err(|e| err("LIST versions", key, e))?;
        Ok(r.versions()
            .iter()
            .filter(|v| v.key() == Some(key))
            .filter_map(|v| v.version_id().map(str::to_string))
            .collect())
    }

    /// Tries to delete one version of an object (what Object Lock must refuse while it is retained).
    ///
    /// # Errors
    /// [`StoreError::S3`] with the store's refusal.
    pub fn delete_version(&self, key: &str, version: Option<&str>) -> Result<(), StoreError> {
        self.rt
            .block_on(
                self.client
                    .delete_object()
                    .bucket(&self.cfg.url.bucket)
                    .key(key)
                    .set_version_id(version.map(str::to_string))
                    .send(),
            )
            .map_err(|e| err("DELETE", key, e))?;
        Ok(())
    }

    /// Creates the configuration's bucket with Object Lock enabled (and so versioning), for tests and
    /// first set-up; an existing bucket of ours is fine.
    ///
    /// # Errors
    /// [`StoreError::S3`].
    pub fn create_locked_bucket(&self) -> Result<(), StoreError> {
        let b = &self.cfg.url.bucket;
        let r = self.rt.block_on(
            self.client
                .create_bucket()
                .bucket(b)
                .object_lock_enabled_for_bucket(true)
                .send(),
        );
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(err("CREATE bucket", b, e)),
        }
    }

    /// Whether the bucket reports Object Lock enabled.
    ///
    /// # Errors
    /// [`StoreError::S3`].
    pub fn object_lock_enabled(&self) -> Result<bool, StoreError> {
        let r = self
            .rt
            .block_on(
                self.client
                    .get_object_lock_configuration()
                    .bucket(&self.cfg.url.bucket)
                    .send(),
            )
            .map_err(|e| err("GET object-lock", &self.cfg.url.bucket, e))?;
        Ok(r.object_lock_configuration()
            .and_then(|c| c.object_lock_enabled())
            == Some(&ObjectLockEnabled::Enabled))
    }
}
