//! Where an attempt runs (SPEC §11, ADR 0008): the seam between the coordinator, which decides
//! everything (policies, gates, hooks, outputs, the history), and what runs an attempt's command.
//!
//! - [`local`]: a process group on this machine ([`super::children::Children`]), watched in the
//!   coordinator's own `poll`.
//! - [`slurm`]: a Slurm batch job, submitted and watched by a thread of its own that wakes the
//!   coordinator through the [`Waker`] when something happened, so cancels, timers and log copying
//!   never wait on a cluster command.
//!
//! The coordinator never signals a process itself: it asks the attempt's executor to [`Stop`] it.
//! The history records each attempt's executor and the executor's opaque id of it.

pub mod fake;
pub mod local;
pub mod slurm;

use std::path::PathBuf;

use super::children::{Ended, Launch};
use super::plan::{ExecStep, ExecutorKind};

/// How an attempt is asked to stop: `Term` first (the coordinator's kill timer follows after the
/// grace), then `Kill`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Term,
    Kill,
}

/// What an executor tells the coordinator, besides attempts that ended.
pub enum Report {
    /// The cluster accepted the attempt: its id there (recorded on the attempt).
    Submitted {
        step: usize,
        attempt: u32,
        id: String,
    },
    /// The attempt's job left the queue and runs.
    Running {
        step: usize,
        attempt: u32,
        id: String,
    },
    /// It could not be started; why.
    NotStarted {
        step: usize,
        attempt: u32,
        error: String,
    },
    Ended(Ended),
}

/// What an executor knows of an attempt it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Started {
    /// A process group on this machine (recorded as `pid` too, for older readers).
    Group(u32),
    /// The executor's own id of it.
    Id(String),
    /// Its id comes later ([`Report::Submitted`]).
    Later,
}

/// An attempt being started: the step, its number, and where its output goes.
pub struct AttemptStart<'a> {
    pub index: usize,
    pub attempt: u32,
    pub step: &'a ExecStep,
    pub launch: Launch<'a>,
    /// Its stdout and stderr log files.
    pub logs: [PathBuf; 2],
    /// Where the executor may keep what it needs for the attempt (a job script), beside the logs.
    pub scratch: PathBuf,
    /// A name unique to the run and the attempt, by which a cluster's records can be searched
    /// when the attempt's id was never recorded (see [`job_name`]).
    pub name: String,
}

/// What runs attempts.
pub trait Executor {
    fn kind(&self) -> ExecutorKind;

    /// Whether its attempts wait in a queue before they run. Such an executor reports
    /// [`Report::Running`] when one leaves the queue, and the step's `timeout_sec` counts from
    /// then, as a cluster's own time limit does; otherwise it counts from the start.
    fn queues(&self) -> bool {
        false
    }

    /// Starts an attempt. Returns the executor's id of it when known at once (a process group);
    /// a cluster's id comes later as [`Report::Submitted`], or [`Report::NotStarted`].
    fn start(&mut self, start: AttemptStart<'_>) -> std::io::Result<Started>;

    /// Asks a running attempt to stop. An attempt that already ended is left alone.
    fn stop(&mut self, step: usize, attempt: u32, how: Stop);

    /// Moves what happened since the last call into `into`.
    fn collect(&mut self, into: &mut Vec<Report>);
}

/// The name a cluster job of an attempt has: the run's token (its first 12 characters, which is
/// plenty to tell runs apart), the attempt and the step (in characters Slurm keeps well), so that a resumed engine finds jobs whose
/// ids a dead engine never recorded.
pub fn job_name(token: &str, step: &str, attempt: u32) -> String {
    let prefix: String = token.chars().take(12).collect();
    // Slurm keeps names with other characters badly (a space breaks its job-completion records).
    let step: String = step
        .chars()
        .take(200)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    format!("weft-{prefix}-{attempt}-{step}")
}

#[cfg(test)]
mod tests {
    use super::job_name;

    #[test]
    fn job_names_carry_the_run_the_attempt_and_the_step_in_characters_slurm_keeps() {
        assert_eq!(job_name("0123456789abcdef", "build.linux-x86_64", 2), "weft-0123456789ab-2-build.linux-x86_64");
        assert_eq!(job_name("0123456789abcdef", "say hi|ö", 1), "weft-0123456789ab-1-say_hi__");
        assert_eq!(job_name("ab", &"x".repeat(500), 1).len(), "weft-ab-1-".len() + 200);
    }
}
