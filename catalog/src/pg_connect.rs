//! Connecting to PostgreSQL, with TLS as the URL asks: libpq's `sslmode` (`disable`, `prefer` — the default —,
//! `require`, `verify-ca`, `verify-full`) and `sslrootcert` (a PEM file of the CA certificates to trust; the
//! system's when absent). A catalogue shared by several nodes crosses the network with users' password
//! hashes, tokens and the audit log: `sslmode=verify-full` with the database's CA is what a deployment
//! should give. TLS is OpenSSL's (the system libssl, already linked for time-stamp tokens).
//!
//! | `sslmode` | encrypted | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers it | not checked (as libpq) |
//! | `require` | always | not checked, unless `sslrootcert` is given (then as `verify-ca`, as libpq) |
//! | `verify-ca` | always | chain to a trusted CA |
//! | `verify-full` | always | chain to a trusted CA, and names the host connected to |

use std::path::PathBuf;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres::config::SslMode;
use postgres::Client;
use postgres_openssl::MakeTlsConnector;

use crate::CatalogError;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query (the client library knows neither `verify-*` nor
/// `sslrootcert`); the rest of the URL is left as it was.
fn split_tls(url: &str) -> Result<(String, Tls, Option<PathBuf>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), Tls::Prefer, None));
    };
    let mut mode = Tls::Prefer;
    let mut root = None;
    let mut rest: Vec<&str> = Vec::new();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=') {
            Some(("sslmode", v)) => {
                mode = match v {
                    "disable" => Tls::Disable,
                    "allow" | "prefer" => Tls::Prefer,
                    "require" => Tls::Require,
                    "verify-ca" => Tls::VerifyCa,
                    "verify-full" => Tls::VerifyFull,
                    other => {
                        return Err(format!(
                    "sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"
                ))
                    }
                }
            }
            Some(("sslrootcert", v)) if !v.is_empty() => root = Some(PathBuf::from(v)),
            _ => rest.push(kv),
        }
    }
    if mode == Tls::Require && root.is_some() {
        mode = Tls::VerifyCa;
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, mode, root))
}

/// Connects to the server a `postgres://` URL names, with TLS as its `sslmode` and `sslrootcert` ask (see
/// the module's table).
///
/// ```
/// // sslmode is checked before anything is sent.
/// let e = catalog::connect_postgres("postgres://u@127.0.0.1:1/db?sslmode=sometimes").err().unwrap();
/// assert!(e.to_string().contains("sslmode=sometimes"));
/// // A CA file that is not there is named.
/// let e = catalog::connect_postgres("postgres://u@127.0.0.1:1/db?sslmode=verify-full&sslrootcert=/nope.pem")
///     .err()
///     .unwrap();
/// assert!(e.to_string().contains("/nope.pem"));
/// ```
///
/// # Errors
/// [`CatalogError::Database`]: a malformed URL or `sslmode`, an unreadable CA file, the server unreachable
/// or refusing, a certificate that does not verify. The message never repeats the URL (it may hold a
/// password).
pub fn connect_postgres(url: &str) -> Result<Client, CatalogError> {
    let fail = |what: String| CatalogError::Database(format!("connecting to PostgreSQL: {what}"));
    let (url, mode, root) = split_tls(url).map_err(fail)?;
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e: postgres::Error| fail(crate::postgres::describe(&e)))?;
    if mode == Tls::Disable {
        config.ssl_mode(SslMode::Disable);
        return config
            .connect(postgres::NoTls)
            .map_err(|e| fail(crate::postgres::describe(&e)));
    }
    config.ssl_mode(if mode == Tls::Prefer {
        SslMode::Prefer
    } else {
        SslMode::Require
    });
    let tls_err = |e: openssl::error::ErrorStack| fail(format!("TLS set-up: {e}"));
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(tls_err)?;
    if let Some(ca) = &root {
        builder
            .set_ca_file(ca)
            .map_err(|e| fail(format!("sslrootcert {}: {e}", ca.display())))?;
    }
    let verify = matches!(mode, Tls::VerifyCa | Tls::VerifyFull);
    if !verify {
        builder.set_verify(SslVerifyMode::NONE);
    }
    let mut tls = MakeTlsConnector::new(builder.build());
    let full = mode == Tls::VerifyFull;
    tls.set_callback(move |c, _host| {
        c.set_verify_hostname(full);
        Ok(())
    });
    config
        .connect(tls)
        .map_err(|e| fail(crate::postgres::describe(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_are_taken_out_of_the_url() {
        let (u, m, r) = split_tls("postgres://a@h/db").unwrap();
        assert_eq!((u.as_str(), m, r), ("postgres://a@h/db", Tls::Prefer, None));
        let (u, m, r) = split_tls(
            "postgres://a@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(u, "postgres://a@h/db?connect_timeout=5");
        assert_eq!(m, Tls::VerifyFull);
        assert_eq!(r, Some(PathBuf::from("/etc/ca.pem")));
        // require with a CA checks the chain, as libpq does.
        let (_, m, _) = split_tls("postgres://a@h/db?sslmode=require&sslrootcert=ca.pem").unwrap();
        assert_eq!(m, Tls::VerifyCa);
        let (_, m, _) = split_tls("postgres://a@h/db?sslmode=disable").unwrap();
        assert_eq!(m, Tls::Disable);
        assert!(split_tls("postgres://a@h/db?sslmode=yes").is_err());
    }
}
