//! The local executor: each attempt a process group on this machine, watched by
//! [`Children::wait`] in the coordinator's own `poll`.
//!
//! Invariants (see [`super::super::children`]): an attempt's log file exists only if its stream
//! wrote; TERM, then after the grace KILL, to the whole group; the group is killed before its
//! leader is reaped, so a signal never reaches a reused group id.

use super::{AttemptStart, Executor, Report, Started, Stop};
use crate::engine::children::Children;
use crate::engine::plan::ExecutorKind;

impl Executor for Children {
    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Local
    }

    fn start(&mut self, start: AttemptStart<'_>) -> std::io::Result<Started> {
        let pid = self.spawn(start.index, start.attempt, &start.launch, start.logs)?;
        Ok(Started::Group(pid))
    }

    fn stop(&mut self, step: usize, attempt: u32, how: Stop) {
        let signal = match how {
            Stop::Term => libc::SIGTERM,
            Stop::Kill => libc::SIGKILL,
        };
        self.signal(step, attempt, signal);
    }

    /// Local attempts end through [`Children::wait`]: nothing to collect.
    fn collect(&mut self, _into: &mut Vec<Report>) {}
}
