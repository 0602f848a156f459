//! Who works on a run: the engine that runs it holds the run's lock, `.weft/locks/run-<id>.lock`,
//! from before the run is visible as running until after its end is committed. The operating
//! system releases the lock when that process ends, however it ends, so a run recorded as
//! `running` whose lock nobody holds was interrupted: its engine is gone.
//!
//! The lock is an open file description lock (`F_OFD_SETLK`): it belongs to the open file, not to
//! the process, so a second open of the file in the same process (the language server that runs
//! a workflow and reads the history) sees it as held, and it can be tested without being taken
//! (`F_OFD_GETLK`), so `weft status` never gets in the way of a `weft resume`.
//!
//! Invariant: at most one engine holds a run's lock, and only an engine holding it starts, stops
//! or records anything of the run.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::{state_dir, RunId};

/// The lock of one run, held for as long as this value lives. Dropping it removes the lock file
/// and then releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

/// The path of a run's lock file.
pub fn run_lock_path(workspace: &Path, run: RunId) -> PathBuf {
    state_dir(workspace).join("locks").join(format!("run-{run}.lock"))
}

impl RunLock {
    /// Takes the run's lock, or returns `None` when another engine holds it.
    pub fn try_take(workspace: &Path, run: RunId) -> std::io::Result<Option<RunLock>> {
        RunLock::try_take_path(run_lock_path(workspace, run))
    }

    /// Takes the lock of the file at `path` (made, with its folder, if missing), or returns `None`
    /// when another holder has it. The same lock guards other work than runs: a session's phase
    /// completion (`store::session_lock_path`).
    pub fn try_take_path(path: PathBuf) -> std::io::Result<Option<RunLock>> {
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        loop {
            let file = File::options().create(true).truncate(false).write(true).open(&path)?;
            if !set_lock(&file)? {
                return Ok(None);
            }
            // The holder before may have removed the file between our open and our lock: a lock
            // on a file that is no longer at the path locks nobody out, so take it again.
            if same_file(&file, &path) {
                return Ok(Some(RunLock { _file: file, path }));
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still held, so whoever opens the path next makes a new file and checks it
        // (see `try_take`); the lock is released when `_file` closes.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// True while an engine holds the run's lock. A missing lock file is a lock nobody holds.
pub fn engine_holds_run(workspace: &Path, run: RunId) -> bool {
    let Ok(file) = File::open(run_lock_path(workspace, run)) else { return false };
    let mut lock = whole_file(libc::F_WRLCK);
    // SAFETY: fcntl reads and writes the `flock` structure we pass, for a descriptor we own.
    let result = unsafe { libc::fcntl(file.as_raw_fd(), GET_LOCK, &mut lock) };
    result == 0 && i32::from(lock.l_type) != libc::F_UNLCK
}

#[cfg(target_os = "linux")]
const SET_LOCK: libc::c_int = libc::F_OFD_SETLK;
#[cfg(target_os = "linux")]
const GET_LOCK: libc::c_int = libc::F_OFD_GETLK;
// Elsewhere, process-associated locks: the same between processes, not within one.
#[cfg(not(target_os = "linux"))]
const SET_LOCK: libc::c_int = libc::F_SETLK;
#[cfg(not(target_os = "linux"))]
const GET_LOCK: libc::c_int = libc::F_GETLK;

fn whole_file(kind: libc::c_int) -> libc::flock {
    // SAFETY: `flock` is plain data; all-zero is a valid value (pid 0 is what OFD locks require).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as _;
    lock.l_whence = libc::SEEK_SET as _;
    lock
}

/// Takes a write lock on the whole file without waiting; false when someone else holds it.
fn set_lock(file: &File) -> std::io::Result<bool> {
    let lock = whole_file(libc::F_WRLCK);
    // SAFETY: fcntl reads the `flock` structure we pass, for a descriptor we own.
    if unsafe { libc::fcntl(file.as_raw_fd(), SET_LOCK, &lock) } == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES) => Ok(false),
        _ => Err(error),
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_lock_is_seen_held_until_it_is_dropped() {
        let workspace = std::env::temp_dir().join(format!("weft-run-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&workspace);
        assert!(!engine_holds_run(&workspace, 7), "no lock file: nobody holds it");
        let lock = RunLock::try_take(&workspace, 7).unwrap().expect("free");
        assert!(engine_holds_run(&workspace, 7), "a second open in the same process sees it held");
        assert!(RunLock::try_take(&workspace, 7).unwrap().is_none(), "held: not taken twice");
        drop(lock);
        assert!(!engine_holds_run(&workspace, 7));
        assert!(!run_lock_path(&workspace, 7).exists(), "the lock file is removed with the lock");
        let again = RunLock::try_take(&workspace, 7).unwrap();
        assert!(again.is_some());
        drop(again);
        let _ = std::fs::remove_dir_all(&workspace);
    }
}
