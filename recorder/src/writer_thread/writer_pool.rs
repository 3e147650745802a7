//! The writer threads shared by many recordings ([`WriterPool`]): each polls the queues of the sinks given to
//! it, through the crate's polling pool.

use std::sync::Arc;

use super::{Drain, WriterOptions};
use crate::pool::{Job as PoolJob, Nap, Pool, Step, IDLE_WAIT};
use crate::sink::SinkError;
use media_core::wake::Doorbell;

/// Writer threads shared by many recordings (e.g. every call of `verbatim listen`): each thread polls the
/// queues of the sinks given to it every `poll_interval` (see the crate's `pool` module), so a machine recording hundreds
/// of calls runs a few writer threads, not one per call. A sink is given to the thread with the fewest sinks.
pub struct WriterPool {
    options: WriterOptions,
    pool: Pool<Box<dyn Drain>>,
}

impl WriterPool {
    /// Starts `threads` writer threads (at least one) polling every `options.poll_interval`.
    ///
    /// # Errors
    /// [`SinkError::WriterFailed`] when a thread cannot be started.
    pub fn new(threads: usize, options: WriterOptions) -> Result<Self, SinkError> {
        let nap = Nap {
            length: options.poll_interval,
            after_work: true,
            rung: false,
            idle: IDLE_WAIT,
        };
        let pool = Pool::new(threads, "verbatim-writer", nap, None)
            .map_err(|e| SinkError::WriterFailed(format!("cannot start a writer thread: {e}")))?;
        Ok(WriterPool { options, pool })
    }

    /// The options every sink of this pool gets.
    pub fn options(&self) -> WriterOptions {
        self.options
    }

    pub(super) fn add(&self, job: Box<dyn Drain>) -> Result<(), SinkError> {
        self.pool
            .add(job)
            .map_err(|e| SinkError::WriterFailed(format!("writer pool: {e}")))
    }
}

impl std::fmt::Debug for WriterPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterPool")
            .field("threads", &self.pool.len())
            .field("options", &self.options)
            .finish()
    }
}

/// At most this many commands of one sink per pass, so one busy recording cannot starve the others.
const POOL_BUDGET: usize = 256;

impl PoolJob for Box<dyn Drain> {
    fn step(&mut self) -> Step {
        self.poll(POOL_BUDGET)
    }
    fn attach(&self, bell: &Arc<Doorbell>) {
        Drain::attach(&**self, bell);
    }
    /// The sink was handed back by `poll`; nothing is left.
    fn finish(self) {}
}
