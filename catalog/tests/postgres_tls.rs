//! TLS to PostgreSQL (`sslmode`, `sslrootcert` in the catalogue URL), against a real server started here with
//! `ssl = on` and a certificate from a test CA (for `db.internal` and 127.0.0.1). Checked with the server's
//! own view of each connection (`pg_stat_ssl`): `verify-full` with the CA connects encrypted; a CA that did
//! not sign the server's certificate is refused; a host name the certificate does not carry is refused by
//! `verify-full` and accepted by `verify-ca`; `require` and the default (`prefer`) encrypt; `disable` does
//! not; and the catalogue itself works over `verify-full`.
//!
//! Needs PostgreSQL 15 (scripts/setup.sh installs it); without it the test prints a loud `SKIPPED` and passes.

mod common;

use std::path::Path;
use std::process::Command;

use catalog::{connect_postgres, CatalogStore, PostgresCatalog, Query, RecordingEntry};
use common::pg::PgServer;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA: its PEM and an issuer for leaves.
fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

/// Writes the server's certificate and key where the server (run as `postgres` when the test is root) can
/// read them, the key private to its owner as PostgreSQL demands.
fn server_files(dir: &Path, issuer: &Issuer<'static, KeyPair>) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["db.internal".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.is_ca = IsCa::ExplicitNoCa;
    params
        .distinguished_name
        .push(DnType::CommonName, "db.internal");
    let cert = params.signed_by(&key, issuer).unwrap();
    let (c, k) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        let st = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let st = Command::new("chmod").arg("600").arg(&k).status().unwrap();
    assert!(st.success());
    (
        c.to_str().unwrap().to_string(),
        k.to_str().unwrap().to_string(),
    )
}

/// The server's view: is this connection encrypted?
fn encrypted(url: &str) -> bool {
    let mut c = connect_postgres(url).unwrap();
    c.query_one(
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )
    .unwrap()
    .get(0)
}

/// The connection is refused because the server's certificate does not verify.
fn refused(url: &str, what: &str) {
    let e = connect_postgres(url)
        .err()
        .unwrap_or_else(|| panic!("{what} must be refused"));
    assert!(e.to_string().contains("certificate verify failed"), "{e}");
}

#[test]
fn the_catalogue_connects_over_tls_as_sslmode_says_and_refuses_a_wrong_certificate() {
    let dir = std::env::temp_dir().join(format!("verbatim-pg-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (ca_pem, issuer) = ca("verbatim test CA");
    let (other_pem, _) = ca("some other CA");
    let (cert, key) = server_files(&dir.join("server"), &issuer);
    let ca_file = dir.join("ca.pem");
    let other_file = dir.join("other-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    std::fs::write(&other_file, other_pem).unwrap();
    let Some(server) = PgServer::start(&[
        "ssl=on",
        &format!("ssl_cert_file={cert}"),
        &format!("ssl_key_file={key}"),
    ]) else {
        return;
    };
    let url = server.database("tls");
    let (ca, other) = (ca_file.display(), other_file.display());

    assert!(
        encrypted(&format!("{url}?sslmode=verify-full&sslrootcert={ca}")),
        "verify-full with the CA"
    );
    assert!(encrypted(&format!("{url}?sslmode=require")), "require");
    assert!(
        encrypted(&url),
        "prefer (the default) when the server offers TLS"
    );
    assert!(!encrypted(&format!("{url}?sslmode=disable")), "disable");

    refused(
        &format!("{url}?sslmode=verify-full&sslrootcert={other}"),
        "a certificate from another CA",
    );
    // `require` with a CA file checks the chain (as libpq does).
    assert!(connect_postgres(&format!("{url}?sslmode=require&sslrootcert={other}")).is_err());

    // A name the certificate does not carry: verify-full refuses, verify-ca (chain only) accepts.
    let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
    let renamed = format!("postgres://postgres@wrong.internal:{port}/tls?hostaddr=127.0.0.1");
    refused(
        &format!("{renamed}&sslmode=verify-full&sslrootcert={ca}"),
        "a certificate for another host",
    );
    assert!(encrypted(&format!(
        "{renamed}&sslmode=verify-ca&sslrootcert={ca}"
    )));
    let named = format!("postgres://postgres@db.internal:{port}/tls?hostaddr=127.0.0.1");
    assert!(encrypted(&format!(
        "{named}&sslmode=verify-full&sslrootcert={ca}"
    )));

    // The catalogue over verify-full.
    let mut c =
        PostgresCatalog::connect(&format!("{url}?sslmode=verify-full&sslrootcert={ca}")).unwrap();
    let meta = br#"{"call":{"id":"c1"},"recording":{"started_utc":"2026-03-02T09:30:00Z"},
        "participants":[{"name":"alice"}]}"#;
    c.upsert(
        &RecordingEntry::from_files("2026/c1", Some(meta), None, &[]).unwrap(),
        "s",
    )
    .unwrap();
    let page = c
        .search(&Query::from_pairs([("participant", "alice")]).unwrap())
        .unwrap();
    assert_eq!(page.recordings.len(), 1);
    drop(c);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
