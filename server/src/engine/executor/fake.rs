//! A scripted executor for tests of the coordinator's scheduling (concurrency, dependencies,
//! retries, failure policies): no process starts. Each attempt "runs" for the time its step's
//! environment says and "exits" as it says, so thousands of generated runs take seconds:
//!
//! - `WEFT_FAKE_QUEUE_MS`: how long an attempt waits in the queue before it runs (default 0): it
//!   is reported [`Report::Running`] then, as a cluster's job is, and its time limit counts from
//!   there;
//! - `WEFT_FAKE_MS`: how long an attempt runs (default 0);
//! - `WEFT_FAKE_EXIT`: its exit code (default 0), or `WEFT_FAKE_EXIT_<attempt>` for one attempt;
//! - `WEFT_FAKE_OUTPUT`: `key=value` pairs separated by `;`, written to `$WEFT_OUTPUT` at its end.
//!
//! A thread of its own ends attempts on time and wakes the coordinator through the [`Waker`], as a
//! cluster's poller does. `Stop::Term` and `Stop::Kill` end an attempt at once, killed by that
//! signal. Never selected by a file or the command line: only by `StartOptions::executor`.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{AttemptStart, Executor, Report, Started, Stop};
use crate::engine::children::{Ended, Waker};
use crate::engine::plan::ExecutorKind;
use crate::engine::process::Exit;

struct Scripted {
    step: usize,
    attempt: u32,
    /// When it leaves the queue, until it is reported running.
    queued_until: Option<Instant>,
    ends: Instant,
    exit: Exit,
    output: Option<(PathBuf, String)>,
}

#[derive(Default)]
struct State {
    running: Vec<Scripted>,
    reports: Vec<Report>,
    closed: bool,
}

pub struct Fake {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    pub fn new(waker: Waker) -> Fake {
        let shared: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let inner = shared.clone();
        let thread = std::thread::Builder::new().name("weft-fake".into()).spawn(move || run(&inner, &waker)).ok();
        Fake { shared, thread }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.state().closed = true;
        self.shared.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Executor for Fake {
    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Fake
    }

    fn queues(&self) -> bool {
        true
    }

    fn start(&mut self, start: AttemptStart<'_>) -> std::io::Result<Started> {
        let value = |name: &str| {
            start.launch.env.iter().rev().find(|(key, _)| key == name).map(|(_, v)| v.to_string_lossy().into_owned())
        };
        let millis = value("WEFT_FAKE_MS").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let queued = value("WEFT_FAKE_QUEUE_MS").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let runs_at = Instant::now() + Duration::from_millis(queued);
        let code = value(&format!("WEFT_FAKE_EXIT_{}", start.attempt))
            .or_else(|| value("WEFT_FAKE_EXIT"))
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(0);
        let output = value("WEFT_FAKE_OUTPUT").zip(value("WEFT_OUTPUT")).map(|(pairs, path)| {
            let text: String = pairs.split(';').filter(|p| !p.is_empty()).map(|p| format!("{p}\n")).collect();
            (PathBuf::from(path), text)
        });
        self.state().running.push(Scripted {
            step: start.index,
            attempt: start.attempt,
            queued_until: Some(runs_at),
            ends: runs_at + Duration::from_millis(millis),
            exit: Exit::Code(code),
            output,
        });
        self.shared.1.notify_all();
        Ok(Started::Id(format!("fake-{}-{}", start.index, start.attempt)))
    }

    fn stop(&mut self, step: usize, attempt: u32, how: Stop) {
        let mut state = self.state();
        if let Some(scripted) = state.running.iter_mut().find(|s| s.step == step && s.attempt == attempt) {
            scripted.ends = Instant::now();
            scripted.queued_until = None;
            scripted.exit = Exit::Signal(if how == Stop::Term { libc::SIGTERM } else { libc::SIGKILL });
            scripted.output = None;
        }
        drop(state);
        self.shared.1.notify_all();
    }

    fn collect(&mut self, into: &mut Vec<Report>) {
        into.append(&mut self.state().reports);
    }
}

/// Ends attempts when their time comes.
fn run(shared: &(Mutex<State>, Condvar), waker: &Waker) {
    let (lock, wake) = shared;
    let mut state = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        if state.closed {
            return;
        }
        let now = Instant::now();
        // Something to tell the coordinator: an attempt left the queue or ended.
        let mut news = false;
        let mut index = 0;
        while index < state.running.len() {
            let scripted = &mut state.running[index];
            if scripted.queued_until.is_some_and(|at| at <= now) {
                scripted.queued_until = None;
                let (step, attempt) = (scripted.step, scripted.attempt);
                state.reports.push(Report::Running { step, attempt, id: format!("fake-{step}-{attempt}") });
                news = true;
            }
            if state.running[index].ends <= now {
                let scripted = state.running.swap_remove(index);
                if let Some((path, text)) = &scripted.output {
                    let _ = std::fs::write(path, text);
                }
                state.reports.push(Report::Ended(Ended {
                    step: scripted.step,
                    attempt: scripted.attempt,
                    exit: scripted.exit,
                    at: now,
                    stdout_tail: String::new(),
                    stderr_tail: String::new(),
                    failure: None,
                }));
                news = true;
            } else {
                index += 1;
            }
        }
        if news {
            waker.wake();
        }
        let next = state.running.iter().map(|s| s.queued_until.map_or(s.ends, |at| at.min(s.ends))).min();
        state = match next {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                wake.wait_timeout(state, wait).unwrap_or_else(std::sync::PoisonError::into_inner).0
            }
            None => wake.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner),
        };
    }
}
