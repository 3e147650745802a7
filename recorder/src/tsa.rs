//! Time-stamping signature checkpoints off the media thread (`--tsa URL` on `record` and `listen`).
//!
//! [`Stamper`] owns one thread that posts each checkpoint's imprint to the time-stamping authority and sends the
//! token back. The writer thread hands it checkpoints and collects tokens between its writes ([`Stamper::request`],
//! [`Stamper::poll`]): neither call blocks nor allocates per frame. A TSA that is down or slow never holds the
//! recording up: its failures are counted, and the next checkpoint is tried again.
//!
//! # Examples
//! ```
//! use std::time::Duration;
//! use recorder::tsa::Stamper;
//! // Nothing listens on this port: the request fails and is counted, the caller is never blocked.
//! let mut s = Stamper::start("http://127.0.0.1:9/tsr", Duration::from_millis(200)).unwrap();
//! s.request(3, [0; 32]);
//! s.drain(Duration::from_secs(2), |_, _| {});
//! assert_eq!((s.stamped(), s.failed()), (0, 1));
//! ```

use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use muxer::integrity::timestamp::request_token;

/// Checkpoints waiting for the TSA at most; more are counted as failed (not queued without bound).
const MAX_PENDING: usize = 8;

type Answer = (u64, Result<Vec<u8>, String>);

/// A thread that time-stamps checkpoints (see the module docs).
pub struct Stamper {
    tx: Option<SyncSender<(u64, [u8; 32])>>,
    rx: Receiver<Answer>,
    thread: Option<JoinHandle<()>>,
    pending: usize,
    stamped: u64,
    failed: u64,
    last_error: Option<String>,
}

impl Stamper {
    /// Starts the thread for the TSA at `url`; each request gives up after `timeout`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(url: &str, timeout: Duration) -> std::io::Result<Stamper> {
        let (tx, jobs) = mpsc::sync_channel::<(u64, [u8; 32])>(MAX_PENDING);
        let (done, rx) = mpsc::channel::<Answer>();
        let url = url.to_string();
        let thread = std::thread::Builder::new()
            .name("verbatim-tsa".into())
            .spawn(move || {
                for (entries, imprint) in jobs {
                    let r = request_token(&url, &imprint, timeout).map_err(|e| e.to_string());
                    if done.send((entries, r)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Stamper {
            tx: Some(tx),
            rx,
            thread: Some(thread),
            pending: 0,
            stamped: 0,
            failed: 0,
            last_error: None,
        })
    }

    /// Queues a checkpoint (its record count and imprint); never blocks. With `MAX_PENDING` already
    /// waiting (the TSA is slow or down), the checkpoint is counted as failed instead.
    pub fn request(&mut self, entries: u64, imprint: [u8; 32]) {
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.try_send((entries, imprint)).is_ok());
        if sent {
            self.pending += 1;
        } else {
            self.failed += 1;
            self.last_error = Some(format!(
                "checkpoint over {entries} records not sent: {MAX_PENDING} still waiting for the TSA"
            ));
        }
    }

    /// Hands every token that arrived to `link` (record count, DER token); never blocks.
    pub fn poll(&mut self, mut link: impl FnMut(u64, Vec<u8>)) {
        loop {
            match self.rx.try_recv() {
                Ok(a) => self.answer(a, &mut link),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    fn answer(&mut self, (entries, r): Answer, link: &mut impl FnMut(u64, Vec<u8>)) {
        self.pending = self.pending.saturating_sub(1);
        match r {
            Ok(token) => {
                self.stamped += 1;
                link(entries, token);
            }
            Err(e) => {
                self.failed += 1;
                self.last_error = Some(e);
            }
        }
    }

    /// Waits up to `wait` for the checkpoints still at the TSA (at close), handing their tokens to `link`;
    /// those still missing then are counted as failed.
    pub fn drain(&mut self, wait: Duration, mut link: impl FnMut(u64, Vec<u8>)) {
        let deadline = Instant::now() + wait;
        while self.pending > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(a) => self.answer(a, &mut link),
                Err(_) => {
                    self.failed += self.pending as u64;
                    self.last_error = Some(format!(
                        "{} checkpoint(s) not stamped within {wait:?} at close",
                        self.pending
                    ));
                    self.pending = 0;
                }
            }
        }
    }

    /// Checkpoints stamped.
    pub fn stamped(&self) -> u64 {
        self.stamped
    }

    /// Checkpoints that could not be stamped.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// The last failure's reason.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

impl Drop for Stamper {
    fn drop(&mut self) {
        self.tx = None; // ends the thread's loop once its request in flight is over
        if let Some(t) = self.thread.take() {
            // Never wait for a hung TSA: the thread ends on its own after its timeout.
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}
