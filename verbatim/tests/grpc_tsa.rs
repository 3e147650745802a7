//! `listen --tsa URL`: a call streamed over gRPC is time-stamped at every signature checkpoint by a real RFC 3161
//! authority on loopback (`openssl ts -reply`), and the tokens check out against its certificate.

mod grpc_util;
#[path = "../../muxer/tests/common/tsa.rs"]
mod tsa;

use grpc_util::*;
use muxer::verify::{verify_dir_opts, Trust, VerifyOptions};
use verbatim::send;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_listen_is_time_stamped() {
    let dir = temp_dir("grpc-tsa");
    let server_tsa = tsa::Tsa::start(&dir.join("tsa"));
    let url = server_tsa.url.clone();
    let srv = start_server(&dir, move |o| o.record.tsa_url = Some(url));
    let o = send::send_calls(&srv.client(), vec![synthetic(2, 25, 4)])
        .await
        .unwrap();
    check_complete(&srv.out, &o[0]);
    let folder = srv.out.join(&o[0].summary.as_ref().unwrap().recording);
    srv.stop().await;
    let cert = std::fs::read(&server_tsa.cert).unwrap();
    let r = verify_dir_opts(
        &folder,
        &VerifyOptions {
            trust: Trust::EmbeddedKey,
            tsa_cert: Some(&cert),
        },
    )
    .unwrap();
    // 25 s of call signed every 10 s of media at the writer's ticks, and at the end of the media; the last
    // signature (over the final status, made after the stamps were collected) has none. The bot sends as fast
    // as it can here, and some runs have no 20 s signature (seen: signatures over 61, 140 and 146 records at
    // 10 s, 25 s and 25 s): with group commit a signature waits for the round that makes what it covers
    // durable, and at this speed the last 5 s of media can arrive within one round, so the close gives the
    // 20 s signature up (`give_up_waiting`) and the close's own signature covers everything it did. So 2 or 3
    // checkpoints, every one stamped and valid.
    assert!(r.timestamps.len() >= 2, "{}", r.summary);
    assert_eq!(r.timestamps.len(), r.signatures - 1, "{}", r.summary);
    assert!(r.timestamps.iter().all(|t| t.1.is_some()), "{}", r.summary);
    drop(server_tsa);
    std::fs::remove_dir_all(&dir).unwrap();
}
