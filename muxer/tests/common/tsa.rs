//! A real RFC 3161 time-stamping authority on loopback: `openssl ts -reply` behind a small HTTP/1.1 handler.
//! The test makes the TSA's key and certificate (ECDSA P-256, `extendedKeyUsage=critical,timeStamping`) with
//! `openssl req`; openssl is installed by scripts/setup.sh. Dropping the server stops it.
#![allow(dead_code)] // each test binary uses a subset of these helpers

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl not found: run scripts/setup.sh");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Makes a TSA key and self-signed certificate in `dir`; returns the certificate's path.
pub fn make_tsa_identity(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.crt",
            "-days",
            "3650",
            "-subj",
            "/CN=Verbatim test TSA",
            "-addext",
            "extendedKeyUsage=critical,timeStamping",
        ],
    );
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        dir.join("tsa.cnf"),
        format!(
            "[ tsa ]\ndefault_tsa = tsa_config1\n[ tsa_config1 ]\ndir = {}\nserial = $dir/serial\n\
             crypto_device = builtin\nsigner_cert = $dir/tsa.crt\nsigner_key = $dir/tsa.key\n\
             signer_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\n\
             ordering = yes\ntsa_name = no\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
            dir.display()
        ),
    )
    .unwrap();
    dir.join("tsa.crt")
}

/// The running TSA.
pub struct Tsa {
    /// `http://127.0.0.1:PORT/tsr`.
    pub url: String,
    /// The certificate its tokens are signed with (PEM).
    pub cert: PathBuf,
    /// Requests answered.
    pub answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Tsa {
    /// Starts a TSA whose identity lives in `dir` (made when missing).
    pub fn start(dir: &Path) -> Tsa {
        let cert = if dir.join("tsa.crt").exists() {
            dir.join("tsa.crt")
        } else {
            make_tsa_identity(dir)
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let (stop2, answered2, dir2) = (stop.clone(), answered.clone(), dir.to_path_buf());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                if serve(conn, &dir2).is_ok() {
                    answered2.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Tsa {
            url: format!("http://{addr}/tsr"),
            cert,
            answered,
            stop,
            addr,
            thread: Some(thread),
        }
    }
}

impl Drop for Tsa {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request: POST body -> `openssl ts -reply` -> the DER response.
fn serve(conn: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut r = BufReader::new(conn.try_clone()?);
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l
            .to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(str::trim)
            .map(str::to_string)
        {
            len = v.parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let n = std::thread::current().id();
    let req = dir.join(format!("req-{n:?}.tsq"));
    let resp = dir.join(format!("resp-{n:?}.tsr"));
    std::fs::write(&req, &body)?;
    let ok = Command::new("openssl")
        .args(["ts", "-reply", "-config"])
        .arg(dir.join("tsa.cnf"))
        .arg("-queryfile")
        .arg(&req)
        .arg("-out")
        .arg(&resp)
        .output()?
        .status
        .success();
    let mut w = conn;
    if !ok {
        w.write_all(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Err(std::io::ErrorKind::Other.into());
    }
    let der = std::fs::read(&resp)?;
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        der.len()
    )?;
    w.write_all(&der)?;
    w.flush()
}
