//! The ingest service over TLS (rustls): a bot that trusts the server's CA records a call; one that does not
//! cannot connect.

mod grpc_util;

use grpc_util::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use verbatim::listen::TlsPem;
use verbatim::send;

/// A CA and a `localhost` leaf signed by it (a bare self-signed leaf is refused by rustls).
fn ca_and_leaf() -> (String, TlsPem) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf_params.is_ca = IsCa::ExplicitNoCa;
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
