//! A search: which recordings, in which order, which page.
//!
//! The same [`Query`] is built from the console's URL (`GET /api/recordings?participant=…&from=…`), from the
//! search form and from `verbatim search` flags ([`Query::from_pairs`]), so the three answer alike.

use crate::{parse_utc, CatalogError};

/// Most recordings one page holds.
pub const MAX_PAGE: u32 = 500;
/// Recordings per page unless asked.
pub const DEFAULT_PAGE: u32 = 50;

/// What to find. Every field narrows; an empty query lists everything, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// A participant's name, display name or id (case-insensitive, whole value).
    pub participant: Option<String>,
    /// Started at or after, µs since the epoch.
    pub from_us: Option<i64>,
    /// Started before, µs since the epoch.
    pub to_us: Option<i64>,
    /// `incoming` / `outgoing` / `unspecified`.
    pub direction: Option<String>,
    /// A phone number: the dialed or the caller's number (digits compared, `+44 20…` = `+4420…`).
    pub number: Option<String>,
    /// Custom data entries that must all be there with these values.
    pub custom: Vec<(String, String)>,
    /// Final status (`completed`, `failed`, `interrupted`, `recording`).
    pub status: Option<String>,
    /// Only recordings with (true) or without (false) missing audio.
    pub has_gaps: Option<bool>,
    /// At least this long, µs.
    pub min_duration_us: Option<i64>,
    /// At most this long, µs.
    pub max_duration_us: Option<i64>,
    /// Call id.
    pub call_id: Option<String>,
    /// Only recordings of these groups (`None`: every group, the `*` grant). An empty list sees nothing.
    pub groups: Option<Vec<String>>,
    /// Page size (1..=[`MAX_PAGE`]).
    pub limit: u32,
    /// Continue after this cursor (from [`crate::Page::next`]).
    pub after: Option<Cursor>,
}

/// Where a page ended: recordings are ordered newest first by (start, catalogue row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Start (µs) of the last recording shown.
    pub started_us: i64,
    /// Its catalogue row.
    pub row: i64,
}

impl Cursor {
    /// `STARTED.ROW`, as in the API's `next` field.
    ///
    /// ```
    /// use catalog::Cursor;
    /// let c = Cursor { started_us: 17, row: 4 };
    /// assert_eq!(Cursor::parse(&c.to_string()), Some(c));
    /// assert_eq!(Cursor::parse("x"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Cursor> {
        let (a, b) = s.split_once('.')?;
        Some(Cursor {
            started_us: a.parse().ok()?,
            row: b.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.started_us, self.row)
    }
}

impl Query {
    /// An empty query with the default page size.
    pub fn new() -> Query {
        Query {
            limit: DEFAULT_PAGE,
            ..Query::default()
        }
    }

    /// Builds a query from `name=value` pairs (URL query or CLI flags): `participant`, `from`, `to` (RFC 3339
    /// or a date), `direction`, `number`, `custom` (`KEY=VALUE`, repeatable), `status`, `has_gaps`
    /// (`true`/`false`), `min_duration`, `max_duration` (seconds), `call_id`, `limit`, `after` (a cursor).
    /// Empty values are ignored.
    ///
    /// ```
    /// use catalog::Query;
    /// let q = Query::from_pairs([("participant", "Alice"), ("from", "2026-03-01"), ("custom", "desk=rates"),
    ///                            ("has_gaps", "true"), ("limit", "10")]).unwrap();
    /// assert_eq!(q.participant.as_deref(), Some("alice"));
    /// assert_eq!(q.from_us, Some(1_772_323_200_000_000));
    /// assert_eq!(q.custom, vec![("desk".to_string(), "rates".to_string())]);
    /// assert_eq!((q.has_gaps, q.limit), (Some(true), 10));
    /// assert!(Query::from_pairs([("from", "last March")]).is_err());
    /// assert!(Query::from_pairs([("colour", "red")]).is_err());
    /// ```
    ///
    /// # Errors
    /// [`CatalogError::BadQuery`] naming the parameter and what it takes.
    pub fn from_pairs<'a, I>(pairs: I) -> Result<Query, CatalogError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut q = Query::new();
        let bad = |name: &str, want: &str, got: &str| {
            CatalogError::BadQuery(format!("{name}={got:?}: expected {want}"))
        };
        for (k, v) in pairs {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            match k {
                "participant" => q.participant = Some(v.to_lowercase()),
                "from" => q.from_us = Some(parse_utc(v).ok_or_else(|| bad(k, "an RFC 3339 time or a date", v))?),
                "to" => q.to_us = Some(parse_utc(v).ok_or_else(|| bad(k, "an RFC 3339 time or a date", v))?),
                "direction" => match v {
                    "incoming" | "outgoing" | "unspecified" => q.direction = Some(v.to_string()),
                    _ => return Err(bad(k, "incoming, outgoing or unspecified", v)),
                },
                "number" => {
                    let n = normalize_number(v);
                    if n.is_empty() {
                        return Err(bad(k, "a phone number", v));
                    }
                    q.number = Some(n);
                }
                "custom" => {
                    let (key, val) = v.split_once('=').ok_or_else(|| bad(k, "KEY=VALUE", v))?;
                    q.custom.push((key.trim().to_string(), val.trim().to_string()));
                }
                "status" => q.status = Some(v.to_string()),
                "has_gaps" => {
                    q.has_gaps = Some(match v {
                        "true" | "yes" | "1" => true,
                        "false" | "no" | "0" => false,
                        _ => return Err(bad(k, "true or false", v)),
                    })
                }
                "min_duration" | "max_duration" => {
                    let s: f64 = v.parse().map_err(|_| bad(k, "seconds", v))?;
                    if !(0.0..=1e9).contains(&s) {
                        return Err(bad(k, "seconds", v));
                    }
                    let us = (s * 1e6) as i64;
                    if k == "min_duration" {
                        q.min_duration_us = Some(us);
                    } else {
                        q.max_duration_us = Some(us);
                    }
                }
                "call_id" => q.call_id = Some(v.to_string()),
                "limit" => {
                    let n: u32 = v.parse().map_err(|_| bad(k, "a number", v))?;
                    if !(1..=MAX_PAGE).contains(&n) {
                        return Err(bad(k, "1 to 500", v));
                    }
                    q.limit = n;
                }
                "after" => q.after = Some(Cursor::parse(v).ok_or_else(|| bad(k, "a cursor from `next`", v))?),
                _ => {
                    return Err(CatalogError::BadQuery(format!(
                        "unknown parameter {k:?} (participant, from, to, direction, number, custom, status, \
                         has_gaps, min_duration, max_duration, call_id, limit, after)"
                    )))
                }
            }
        }
        Ok(q)
    }
}

/// A phone number as compared: `+` and digits only.
///
/// ```
/// assert_eq!(catalog::normalize_number("+44 (20) 7946-0000"), "+442079460000");
/// ```
pub fn normalize_number(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect()
}
