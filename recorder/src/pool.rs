//! Polling thread pools shared by many calls: the writer pool ([`crate::writer_thread::WriterPool`]) and the
//! media pool ([`crate::media_worker::MediaPool`]).
//!
//! Each thread owns the jobs given to it (a job goes to the thread with the fewest), and in a pass gives each
//! job with work one [`Job::step`] (a bounded amount of work, so one busy call cannot starve the others). A job
//! has work when its bell was rung or marked since its last step (each job gets a bell of its own,
//! [`Doorbell::for_job`], which its producers ring), when its last step worked (it may have more), and at the
//! thread's sweep every [`Nap::idle`] (a flag set without ringing); a job with nothing queued costs one
//! atomic load per pass, not a look into its queues. A job whose step says [`Step::Done`] is removed and
//! [`Job::finish`]ed. After a pass in which some job worked the thread may
//! nap ([`Nap`]: work then comes in batches, so a machine recording hundreds of calls wakes a few threads a
//! few hundred times a second, not one thread per call). After a pass in which nothing had work it sleeps on
//! its [`Doorbell`] until a job's producer rings (each job [`Job::attach`]es the bell to its queue), a job is
//! added, or [`IDLE_WAIT`] passes: an idle pool costs nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender, TryRecvError};
use media_core::wake::Doorbell;

/// The longest an idle pool thread sleeps without being rung (a flag set without ringing is seen then).
pub(crate) const IDLE_WAIT: Duration = Duration::from_millis(250);

/// What one step of a job did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// It did some work.
    Worked,
    /// It had nothing to do.
    Idle,
    /// It is over: remove it and finish it.
    Done,
}

/// Work a pool thread polls.
pub(crate) trait Job: Send + 'static {
    /// A bounded amount of work.
    fn step(&mut self) -> Step;
    /// Called once, on the pool thread, after [`Step::Done`].
    fn finish(self);
    /// Called once, on the pool thread, when it takes the job: whoever feeds the job rings (or marks) `bell`,
    /// the job's own bell ([`Doorbell::for_job`]); a step comes only after a ring or mark, after a step that
    /// worked, and at the thread's sweep.
    fn attach(&self, bell: &Arc<Doorbell>);
}

/// When a pool thread naps between passes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Nap {
    /// How long.
    pub(crate) length: Duration,
    /// Also after a pass in which some job worked (a fixed polling rhythm), not only after an idle one.
    pub(crate) after_work: bool,
    /// The jobs' producers ring the thread's bell with their work, so an idle pass may sleep until rung.
    /// When false (the producer is a media thread, which must make no system call) the thread polls every
    /// `length` while it has jobs, and sleeps on its bell only when it has none (adding a job rings).
    pub(crate) rung: bool,
    /// The longest an idle thread sleeps without being rung ([`IDLE_WAIT`]), and how often every job is
    /// stepped whether its bell was rung or not (the sweep).
    pub(crate) idle: Duration,
}

/// Told at the end of every pass of a pool thread what it cost and how many jobs it served (the media pool's
/// metrics, see [`crate::media_stats`]).
pub(crate) trait PassMeter: Send + Sync + 'static {
    /// A pass is over: `cpu_ns` of thread CPU since the previous one ended, `served` jobs worked.
    fn pass_done(&self, cpu_ns: u64, served: usize);
}

impl PassMeter for crate::media_stats::MediaStats {
    fn pass_done(&self, cpu_ns: u64, served: usize) {
        crate::media_stats::MediaStats::pass_done(self, cpu_ns, served);
    }
}

type Thread<J> = (Sender<J>, Arc<AtomicU64>, JoinHandle<()>, Arc<Doorbell>);

/// Threads polling jobs of type `J`.
pub(crate) struct Pool<J: Job> {
    threads: Vec<Thread<J>>,
}

impl<J: Job> Pool<J> {
    /// Starts `threads` threads (at least one) named `name-<i>`; `meter`, when given, is told about every pass.
    pub(crate) fn new(
        threads: usize,
        name: &str,
        nap: Nap,
        meter: Option<Arc<dyn PassMeter>>,
    ) -> std::io::Result<Self> {
        let mut out = Vec::new();
        for i in 0..threads.max(1) {
            let (tx, rx) = channel::unbounded::<J>();
            let load = Arc::new(AtomicU64::new(0));
            let l2 = Arc::clone(&load);
            let meter = meter.clone();
            // The thread waits on the very bell the pool rings when it adds a job: handed to it first.
            let (bell_tx, bell_rx) = channel::bounded::<Arc<Doorbell>>(1);
            let h = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    if let Ok(bell) = bell_rx.recv() {
                        run(&rx, &l2, nap, &bell, meter.as_deref());
                    }
                })?;
            let bell = Doorbell::for_thread(h.thread().clone());
            let _ = bell_tx.send(Arc::clone(&bell));
            out.push((tx, load, h, bell));
        }
        Ok(Pool { threads: out })
    }

    /// Threads in the pool.
    pub(crate) fn len(&self) -> usize {
        self.threads.len()
    }

    /// Gives `job` to the thread with the fewest jobs.
    pub(crate) fn add(&self, job: J) -> Result<(), &'static str> {
        let (tx, load, _, bell) = self
            .threads
            .iter()
            .min_by_key(|(_, l, _, _)| l.load(Ordering::Relaxed))
            .ok_or("the pool has no thread")?;
        load.fetch_add(1, Ordering::Relaxed);
        tx.send(job).map_err(|_| "the pool has shut down")?;
        bell.ring();
        Ok(())
    }
}

impl<J: Job> Drop for Pool<J> {
    /// Waits until every job of the pool is done.
    fn drop(&mut self) {
        for (tx, _, h, bell) in self.threads.drain(..) {
            drop(tx);
            bell.ring();
            let _ = h.join();
        }
    }
}

fn run<J: Job>(
    rx: &Receiver<J>,
    load: &AtomicU64,
    nap: Nap,
    bell: &Arc<Doorbell>,
    meter: Option<&dyn PassMeter>,
) {
    let mut jobs: Vec<Entry<J>> = Vec::new();
    let mut open = true;
    let mut next_sweep = Instant::now() + nap.idle;
    // Jobs served since the meter was last told (passes inside a bell wait included).
    let mut served = 0usize;
    let mut cpu_before = meter.map_or(0, |_| crate::media_stats::thread_cpu_ns());
    loop {
        // A vDSO clock read per pass, no system call.
        let sweep = Instant::now() >= next_sweep;
        if sweep {
            next_sweep = Instant::now() + nap.idle;
        }
        let worked = pass(rx, load, bell, &mut jobs, &mut open, &mut served, sweep);
        if let Some(m) = meter {
            // One thread-CPU clock read per pass (see `media_stats`): the cost since the previous read.
            let now = crate::media_stats::thread_cpu_ns();
            m.pass_done(now.saturating_sub(cpu_before), std::mem::take(&mut served));
            cpu_before = now;
        }
        if !open && jobs.is_empty() {
            return;
        }
        if worked {
            if nap.after_work {
                std::thread::sleep(nap.length);
            }
            continue;
        }
        if !nap.rung && !jobs.is_empty() {
            std::thread::sleep(nap.length);
            continue;
        }
        // Nothing had work: sleep until a producer rings or a job is added (a second pass after arming the
        // bell catches what came in meanwhile).
        bell.wait(
            || pass(rx, load, bell, &mut jobs, &mut open, &mut served, false),
            nap.idle,
        );
    }
}

/// A job on its thread, with its own bell.
struct Entry<J> {
    job: J,
    bell: Arc<Doorbell>,
    /// Its last step worked: it may have more (a step is bounded), so it is stepped again.
    again: bool,
}

/// Takes new jobs and gives every job with work one step (every job when `sweep`); true when some job worked
/// or a job was added or finished. `served` grows by the jobs that worked or finished.
fn pass<J: Job>(
    rx: &Receiver<J>,
    load: &AtomicU64,
    bell: &Arc<Doorbell>,
    jobs: &mut Vec<Entry<J>>,
    open: &mut bool,
    served: &mut usize,
    sweep: bool,
) -> bool {
    let mut worked = false;
    while *open {
        match rx.try_recv() {
            Ok(job) => {
                let own = Doorbell::for_job(bell);
                job.attach(&own);
                jobs.push(Entry {
                    job,
                    bell: own,
                    again: true,
                });
                worked = true;
            }
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Disconnected) => {
                *open = false;
                worked = true;
            }
        }
    }
    let mut i = 0;
    while i < jobs.len() {
        let e = &mut jobs[i];
        // The mark is taken before the step, so work pushed during the step marks the job again.
        let rung = e.bell.take_ready();
        if !(rung || e.again || sweep || !*open) {
            i += 1;
            continue;
        }
        match e.job.step() {
            Step::Worked => {
                e.again = true;
                worked = true;
                *served += 1;
                i += 1;
            }
            Step::Idle => {
                e.again = false;
                i += 1;
            }
            Step::Done => {
                let entry = jobs.swap_remove(i);
                load.fetch_sub(1, Ordering::Relaxed);
                entry.job.finish();
                *served += 1;
                worked = true;
            }
        }
    }
    worked
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts down; reports its steps when done.
    struct Countdown(u32, u32, Sender<u32>);

    impl Job for Countdown {
        fn step(&mut self) -> Step {
            self.1 += 1;
            match self.0 {
                0 => Step::Done,
                _ => {
                    self.0 -= 1;
                    Step::Worked
                }
            }
        }
        fn finish(self) {
            let _ = self.2.send(self.1);
        }
        fn attach(&self, _: &Arc<Doorbell>) {}
    }

    /// A job given to a pool whose threads sleep is taken when added, not when the idle wait ends: the pool
    /// rings the bell its thread waits on. (It rang a bell nobody waited on: new calls started up to 250 ms
    /// late.) The idle wait is an hour here, so a lost ring fails the minute-long receive.
    #[test]
    fn adding_a_job_wakes_a_sleeping_thread() {
        let pool = Pool::new(
            1,
            "test-wake",
            Nap {
                length: Duration::from_millis(1),
                after_work: false,
                rung: true,
                idle: Duration::from_secs(3600),
            },
            None,
        )
        .unwrap();
        let (tx, rx) = channel::unbounded();
        for n in 0..3 {
            // Let the thread fall asleep on its bell first.
            std::thread::sleep(Duration::from_millis(20));
            pool.add(Countdown(n, 0, tx.clone())).unwrap();
            let got = rx.recv_timeout(Duration::from_secs(60)).ok();
            if got != Some(n + 1) {
                // Its sleeping thread would keep the pool's drop waiting for the hour.
                std::mem::forget(pool);
                panic!("job {n}: {got:?}: the pool thread was not woken when the job was added");
            }
        }
    }

    /// A job fed through a channel whose producer rings the job's bell, or a quiet one that never has work;
    /// both count their steps and end once `stop` is set.
    struct Counted {
        steps: Arc<AtomicU64>,
        feed: Option<(Receiver<u32>, Sender<Arc<Doorbell>>)>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Job for Counted {
        fn step(&mut self) -> Step {
            self.steps.fetch_add(1, Ordering::Relaxed);
            if self.stop.load(Ordering::Acquire) {
                return Step::Done;
            }
            match &self.feed {
                Some((rx, _)) if rx.try_iter().count() > 0 => Step::Worked,
                _ => Step::Idle,
            }
        }
        fn finish(self) {}
        fn attach(&self, bell: &Arc<Doorbell>) {
            if let Some((_, tx)) = &self.feed {
                let _ = tx.send(Arc::clone(bell));
            }
        }
    }

    /// Jobs whose bell was not rung are not stepped while another job of their thread works: 300 rung
    /// items step the busy job about 300 times and the ten quiet ones once each (when taken), not once per
    /// pass. (Before job bells every pass looked into every job: the quiet ones were stepped hundreds of
    /// times.) The sweep is an hour away here, so it cannot blur the count.
    #[test]
    fn only_rung_jobs_are_stepped() {
        let pool = Pool::new(
            1,
            "test-rung",
            Nap {
                length: Duration::from_micros(200),
                after_work: true,
                rung: true,
                idle: Duration::from_secs(3600),
            },
            None,
        )
        .unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let quiet: Vec<Arc<AtomicU64>> = (0..10).map(|_| Arc::default()).collect();
        for steps in &quiet {
            pool.add(Counted {
                steps: Arc::clone(steps),
                feed: None,
                stop: Arc::clone(&stop),
            })
            .unwrap();
        }
        let busy = Arc::new(AtomicU64::new(0));
        let (item_tx, item_rx) = channel::unbounded();
        let (bell_tx, bell_rx) = channel::bounded(1);
        pool.add(Counted {
            steps: Arc::clone(&busy),
            feed: Some((item_rx, bell_tx)),
            stop: Arc::clone(&stop),
        })
        .unwrap();
        let bell = bell_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        for i in 0..300u32 {
            item_tx.send(i).unwrap();
            bell.ring();
            std::thread::sleep(Duration::from_micros(500));
        }
        while !item_tx.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let busy_steps = busy.load(Ordering::Relaxed);
        let quiet_steps: Vec<u64> = quiet.iter().map(|s| s.load(Ordering::Relaxed)).collect();
        stop.store(true, Ordering::Release);
        drop(pool);
        assert!(
            busy_steps >= 100,
            "the busy job ran {busy_steps} steps for 300 items"
        );
        assert!(
            quiet_steps.iter().all(|&n| n <= 2),
            "quiet jobs were stepped {quiet_steps:?} times while the busy one ran {busy_steps}"
        );
    }

    #[test]
    fn every_job_runs_to_done_and_is_finished_once() {
        let pool = Pool::new(
            2,
            "test-pool",
            Nap {
                length: Duration::from_millis(1),
                after_work: false,
                rung: false,
                idle: IDLE_WAIT,
            },
            None,
        )
        .unwrap();
        assert_eq!(pool.len(), 2);
        let (tx, rx) = channel::unbounded();
        for n in 0..10 {
            pool.add(Countdown(n * 3, 0, tx.clone())).unwrap();
        }
        drop(pool); // waits for all of them
        drop(tx);
        let mut steps: Vec<u32> = rx.iter().collect();
        steps.sort_unstable();
        assert_eq!(steps, (0..10).map(|n| n * 3 + 1).collect::<Vec<_>>());
    }
}
