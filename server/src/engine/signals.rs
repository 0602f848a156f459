//! The signals the command line needs: its own SIGPIPE, Ctrl-C and SIGTERM during `weft run`, and
//! the SIGTERM `weft cancel` sends to a run's owner. They live here because the engine is the one
//! layer that starts, signals and waits for processes (ARCHITECTURE.md; `tests/architecture.rs`
//! keeps it so); the command line only decides when to call them.

use super::CancelHandle;

/// Restores the default action of SIGPIPE, so that a command whose reader goes away
/// (`weft check | head`) ends quietly, as other command-line tools do. Call it before any thread
/// starts, since the action is the whole process's.
pub fn restore_default_sigpipe() {
    // SAFETY: restoring the default action of a signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Cancels a run when the process gets SIGINT (Ctrl-C) or SIGTERM (`weft cancel`), until
/// [`CancelOnSignal::close`]. While it listens, those signals no longer end the process: the run
/// stops its steps, records that it was canceled, and ends.
pub struct CancelOnSignal {
    handle: signal_hook::iterator::Handle,
}

impl CancelOnSignal {
    /// Stops listening; the thread that listened ends.
    pub fn close(self) {
        self.handle.close();
    }
}

/// Starts listening for SIGINT and SIGTERM on a thread of its own, each canceling the run through
/// `cancel`. `None` when the handlers cannot be installed: the signals then end the process as
/// usual, and the run shows as interrupted.
pub fn cancel_on_interrupt(cancel: CancelHandle) -> Option<CancelOnSignal> {
    let mut signals =
        signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM]).ok()?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            cancel.cancel();
        }
    });
    Some(CancelOnSignal { handle })
}

/// Asks the process that owns a run (its recorded `owner_pid`) to cancel it: SIGTERM, which
/// `weft run` handles through [`cancel_on_interrupt`].
pub fn ask_owner_to_cancel(owner_pid: i64) {
    // Invariant: only one process is ever signalled. A history may come from elsewhere, and 0 or a
    // negative id would signal a whole process group (-1: every process the user may signal).
    let Ok(pid) = libc::pid_t::try_from(owner_pid) else { return };
    if pid <= 0 {
        return;
    }
    // SAFETY: kill has no memory effects; it sends SIGTERM to one process.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}
