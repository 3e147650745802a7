//! `VbConfig`: a call's options, set by key so the ABI can grow without changing a struct.

use std::ffi::c_char;
use std::path::PathBuf;

use recorder::bot_adapter::status::StatusConfig;
use recorder::live::RecordOptions;
use recorder::media_core::MediaTime;
use recorder::session::CallStart;

use crate::{fail, guard, text, VB_ERR_INVALID_ARGUMENT, VB_ERR_UNKNOWN_OPTION, VB_OK};

/// A call's options (opaque). Made by [`vb_config_new`], filled by [`vb_config_set`], read by
/// `vb_call_start` (which copies it: the config may be freed or reused right after).
pub struct VbConfig {
    pub(crate) record: RecordOptions,
    pub(crate) status: StatusConfig,
    pub(crate) start: CallStart,
    pub(crate) out_set: bool,
}

/// The keys [`vb_config_set`] takes, for messages.
const KEYS: &str = "out_dir, signing_key, call_id, leg_id, tenant_id, observed_participant_id, direction, \
dialed_number, origin_number, source_participant_id, on_behalf_of, transferor, custom.<name>, opus_bitrate, \
mixed_wav, encrypt_to, queue_capacity, preroll_ms, max_preroll_bytes, confirm_timeout_ms";

/// A new configuration with the defaults (`out_dir` must be set).
#[no_mangle]
pub extern "C" fn vb_config_new() -> *mut VbConfig {
    crate::guard_ptr(|| {
        let mut record = RecordOptions::new(PathBuf::new());
        record.call.source = "ffi".into();
        Box::into_raw(Box::new(VbConfig {
            record,
            status: StatusConfig::default(),
            start: CallStart::new(""),
            out_set: false,
        }))
    })
}

/// Frees a configuration (null is ignored).
///
/// # Safety
/// `cfg` is null or a pointer from [`vb_config_new`] not freed before.
#[no_mangle]
pub unsafe extern "C" fn vb_config_free(cfg: *mut VbConfig) {
    if !cfg.is_null() {
        // SAFETY: made by Box::into_raw in vb_config_new and, by the caller's guarantee, not freed yet.
        drop(unsafe { Box::from_raw(cfg) });
    }
}

fn number<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, i32> {
    v.trim().parse().map_err(|_| {
        fail(
            VB_ERR_INVALID_ARGUMENT,
            format!("{key}: {v:?} is not a valid number"),
        )
    })
}

fn boolean(key: &str, v: &str) -> Result<bool, i32> {
    match v {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(fail(
            VB_ERR_INVALID_ARGUMENT,
            format!("{key}: {v:?} is not true or false"),
        )),
    }
}

impl VbConfig {
    /// Applies one option.
    fn set(&mut self, key: &str, v: &str) -> Result<(), i32> {
        let teams = &mut self.start.teams;
        match key {
            "out_dir" => {
                self.record.out = PathBuf::from(v);
                self.out_set = !v.is_empty();
            }
            "signing_key" => self.record.signing_key = (!v.is_empty()).then(|| PathBuf::from(v)),
            "call_id" => self.start.call_id = v.into(),
            "leg_id" => {
                let ok = (1..=64).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
                if !ok {
                    return Err(fail(
                        VB_ERR_INVALID_ARGUMENT,
                        format!("leg_id: {v:?} (1 to 64 ASCII letters, digits, '.', '_' or '-')"),
                    ));
                }
                self.record.call.leg = v.into();
            }
            "tenant_id" => teams.tenant_id = v.into(),
            "observed_participant_id" => teams.observed_participant_id = v.into(),
            "direction" => match v {
                "incoming" | "outgoing" | "unspecified" => teams.direction = v.into(),
                _ => {
                    return Err(fail(
                        VB_ERR_INVALID_ARGUMENT,
                        format!("direction: {v:?} (incoming, outgoing or unspecified)"),
                    ))
                }
            },
            "dialed_number" => teams.dialed_number = v.into(),
            "origin_number" => teams.origin_number = v.into(),
            "source_participant_id" => teams.source_participant_id = v.into(),
            "on_behalf_of" => teams.on_behalf_of = v.into(),
            "transferor" => teams.transferor = v.into(),
            "opus_bitrate" => {
                let b: u32 = number(key, v)?;
                if !(6_000..=510_000).contains(&b) {
                    return Err(fail(
                        VB_ERR_INVALID_ARGUMENT,
                        format!("opus_bitrate: {b} (6000..=510000)"),
                    ));
                }
                self.record.opus_bitrate_bps = b;
            }
            "mixed_wav" => self.record.mixed_wav = boolean(key, v)?,
            "encrypt_to" => {
                let r = seal::Recipients::parse(&[v.to_string()])
                    .map_err(|e| fail(VB_ERR_INVALID_ARGUMENT, format!("encrypt_to: {e}")))?;
                self.record.encrypt_to.extend(r.texts().iter().cloned());
            }
            "queue_capacity" => {
                let n: usize = number(key, v)?;
                if !(16..=1 << 20).contains(&n) {
                    return Err(fail(
                        VB_ERR_INVALID_ARGUMENT,
                        format!("queue_capacity: {n} (16..=1048576)"),
                    ));
                }
                self.record.queue_capacity = n;
            }
            "preroll_ms" => {
                self.status.preroll = MediaTime::from_millis(number::<u32>(key, v)?.into())
            }
            "max_preroll_bytes" => self.status.max_preroll_bytes = number(key, v)?,
            "confirm_timeout_ms" => {
                self.status.confirm_timeout = MediaTime::from_millis(number::<u32>(key, v)?.into())
            }
            _ => match key.strip_prefix("custom.") {
                Some(name) if !name.is_empty() => {
                    teams.custom_data.insert(name.into(), v.into());
                }
                _ => {
                    return Err(fail(
                        VB_ERR_UNKNOWN_OPTION,
                        format!(
                            "unknown option {key:?} (ABI {}: {KEYS})",
                            crate::VB_ABI_VERSION
                        ),
                    ))
                }
            },
        }
        Ok(())
    }
}

/// Sets option `key` to `value` (both UTF-8 strings; numbers and booleans as text). Keys in ABI 1:
/// `out_dir` (required: the recording folder, created on confirm), `signing_key` (a key file; default: the
/// installation's key), `call_id`, `leg_id` (which redundant recorder this is, written as `call.leg`; default
/// `1`), `tenant_id`, `observed_participant_id`, `direction`
/// (`incoming`/`outgoing`/`unspecified`), `dialed_number`, `origin_number`, `source_participant_id`,
/// `on_behalf_of`, `transferor`, `custom.<name>` (into `metadata.json`), `opus_bitrate` (bit/s of the mix),
/// `mixed_wav` (`true`/`false`), `encrypt_to` (an age recipient `age1…`: every file of the recording is
/// encrypted to it; each call adds one, see `docs/encryption.md`), `queue_capacity` (events), `preroll_ms`,
/// `max_preroll_bytes`, `confirm_timeout_ms`.
///
/// Returns `VB_OK`, `VB_ERR_UNKNOWN_OPTION` or `VB_ERR_INVALID_ARGUMENT` (see `vb_last_error`).
///
/// # Safety
/// `cfg` is a live pointer from [`vb_config_new`]; `key` and `value` are NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn vb_config_set(
    cfg: *mut VbConfig,
    key: *const c_char,
    value: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller passes a live config from vb_config_new, not used by another thread meanwhile.
        let Some(cfg) = (unsafe { cfg.as_mut() }) else {
            return fail(VB_ERR_INVALID_ARGUMENT, "config: null");
        };
        // SAFETY: NUL-terminated strings, by the caller's guarantee.
        let (key, value) = match unsafe { (text(key, "key"), text(value, "value")) } {
            (Ok(k), Ok(v)) => (k, v),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        match cfg.set(key, value) {
            Ok(()) => VB_OK,
            Err(code) => code,
        }
    })
}
