//! The ingest service over TLS (rustls): a bot that trusts the server's CA records a call; one that does not
//! cannot connect.

mod grpc_util;

use grpc_util::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use verbatim::listen::TlsPem;
use verbatim::send;

/// A CA and a `localhost` leaf signed by it (a bare self-signed leaf is refused by rustls).
fn ca_and_leaf() -> (String, TlsPem) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: with rcgen's one default name for both, OpenSSL takes the leaf for self-signed.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "verbatim test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    (
        ca.pem(),
        TlsPem {
            cert: leaf.pem().into_bytes(),
            key: leaf_key.serialize_pem().into_bytes(),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_tls_is_recorded_and_an_untrusted_server_is_refused() {
    let dir = temp_dir("tls");
    let (ca, tls) = ca_and_leaf();
    let srv = start_server(&dir, |o| o.tls = Some(tls));
    let mut c = srv.client();
    c.connect = format!("https://localhost:{}", srv.addr.port());
    c.ca_pem = Some(ca.into_bytes());
    c.call_id_prefix = "tls".into();
    let o = send::send_calls(&c, vec![synthetic(2, 2, 4)])
        .await
        .unwrap();
    check_complete(&srv.out, &o[0]);

    let (other_ca, _) = ca_and_leaf();
    c.ca_pem = Some(other_ca.into_bytes());
    c.call_id_prefix = "untrusted".into();
    let refused = match send::send_calls(&c, vec![synthetic(2, 2, 4)]).await {
        Err(_) => true,
        Ok(o) => o[0].stream_error.is_some() && o[0].summary.is_none(),
    };
    assert!(refused, "a server whose CA is not trusted must be refused");
    assert!(!srv.out.join("untrusted-1").exists());
    srv.stop().await;
}

/// `listen --console` with the listener's certificate: the node's console is served over TLS with it (a client
/// trusting the CA gets the sign-in page), a client trusting another CA is refused, and nothing is served in
/// the clear on that port.
#[test]
fn listen_serves_its_console_over_tls_with_the_listeners_certificate() {
    use std::io::{BufRead, Read, Write};
    use std::net::TcpStream;

    let dir = temp_dir("console-tls");
    let (ca, tls) = ca_and_leaf();
    let (cert, key, ca_file) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    std::fs::write(&cert, &tls.cert).unwrap();
    std::fs::write(&key, &tls.key).unwrap();
    std::fs::write(&ca_file, ca).unwrap();
    /// Stops the server however the test ends (a panicking test must not leave it running).
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_verbatim"))
        .args([
            "listen",
            "--bind",
            "127.0.0.1:0",
            "--no-auth",
            "--console",
            "127.0.0.1:0",
        ])
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--signing-key")
        .arg(key_file(&dir))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let _server = Stop(server);
    let console = loop {
        let line = lines
            .next()
            .expect("listen ended before printing its console's address")
            .unwrap();
        if let Some(url) = line.strip_prefix("console on ") {
            break url.to_string();
        }
    };
    let addr = console
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("the console is not on https: {console}"))
        .trim_end_matches('/')
        .to_string();

    let get = |ca: &std::path::Path| -> Result<String, String> {
        let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        b.set_ca_file(ca).unwrap();
        let tcp = TcpStream::connect(&addr).unwrap();
        let mut s = b
            .build()
            .connect("localhost", tcp)
            .map_err(|e| e.to_string())?;
        s.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut page = String::new();
        let _ = s.read_to_string(&mut page);
        Ok(page)
    };
    let page = get(&ca_file).unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("Sign in"), "{page}");

    let (other_ca, _) = ca_and_leaf();
    let other = dir.join("other-ca.pem");
    std::fs::write(&other, other_ca).unwrap();
    assert!(
        get(&other).is_err(),
        "a client trusting another CA must be refused"
    );

    let mut plain = TcpStream::connect(&addr).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("Sign in"), "served in the clear: {answer}");
}
