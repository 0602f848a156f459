//! The run history as the editor shows it (each step's last result, the run a file can resume),
//! kept in memory between requests. Lenses and inlay hints are asked for after every keystroke and
//! every run event; they read this, not the disk.
//!
//! Invariants (tested in `tests/lsp_run_views.rs`):
//! - What is shown is what the history holds: a workspace's history is opened once and its
//!   connection kept; before each use the server asks SQLite whether anyone committed since
//!   (`PRAGMA data_version`, no table read) and whether the file is still the same file (device and
//!   inode, one `stat`). A commit, a replaced or deleted file, drops what was read.
//! - A file with a run that another engine records as running is read again on every ask: its
//!   engine can die without writing anything (the run is then `interrupted`, and resumable).
//! - The history is only read: never created, migrated or written (see [`Store::open_existing`]).
//!   One that cannot be read counts as no history, and the user is told once per workspace
//!   ([`History::take_notices`]); it is tried again only when the file changes.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::engine;
use crate::session::{self, SessionStatus};
use crate::store::{self, RunId, RunStatus, StepRecord, StepStatus, Store};

/// What the editor shows of one file's past runs.
#[derive(Debug, Default)]
pub struct FileHistory {
    /// Each step's last result (a pending step or one a stage run did not select is no result),
    /// with the run it is from.
    pub last: HashMap<String, (RunId, StepRecord)>,
    /// The latest run that can be resumed, with its steps done and its steps in all.
    pub resumable: Option<Resumable>,
    /// A run of the file is going in another engine: read again on the next ask.
    volatile: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resumable {
    pub run: RunId,
    pub done: usize,
    pub total: usize,
}

/// The histories of the workspaces the editor has asked about. Read handlers take the server by
/// shared reference; what they read here is a memo of the disk, so it is filled in through a
/// `RefCell` (nothing outside this module can see it change).
#[derive(Default)]
pub struct History {
    inner: RefCell<Known>,
}

#[derive(Default)]
struct Known {
    workspaces: HashMap<PathBuf, Workspace>,
    /// Workspaces whose history could not be read and whose user was told.
    reported: BTreeSet<PathBuf>,
    notices: Vec<String>,
    /// For each workspace asked about, a number that moves whenever what was read of it is
    /// dropped (a commit, the file replaced, created or removed): the server compares it to
    /// notice changes made by other processes (`weft phase complete` in a terminal).
    generations: HashMap<PathBuf, u64>,
}

/// One workspace's history file: its open connection, or why there is none.
struct Workspace {
    /// The file as it was when opened or found unreadable.
    stamp: Option<Stamp>,
    store: Option<Store>,
    /// `data_version` when `files` was read.
    version: i64,
    files: HashMap<PathBuf, Arc<FileHistory>>,
    /// The active sessions of each phase template, as `session::status` reads them.
    sessions: HashMap<PathBuf, Arc<Vec<SessionStatus>>>,
}

/// Which file the history is and how it was when looked at, with its write-ahead log (where
/// commits go first: the main file can stay the same through many of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
    wal: Option<(u64, Option<SystemTime>)>,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let metadata = std::fs::metadata(path).ok().filter(std::fs::Metadata::is_file)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = std::fs::metadata(wal).ok().map(|wal| (wal.len(), wal.modified().ok()));
        Some(Stamp {
            dev: metadata.dev(),
            ino: metadata.ino(),
            len: metadata.len(),
            modified: metadata.modified().ok(),
            wal,
        })
    }

    fn same_file(&self, other: &Stamp) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }
}

impl History {
    /// What the editor shows of `key`'s runs; `None` when its workspace has no history it can read.
    pub fn file(&self, key: &Path) -> Option<Arc<FileHistory>> {
        let workspace = engine::workspace_of(key);
        let mut known = self.inner.borrow_mut();
        let entry = known.workspace(&workspace)?;
        if let Some(known) = entry.files.get(key).filter(|known| !known.volatile) {
            return Some(known.clone());
        }
        let store = entry.store.as_ref()?;
        let read = Arc::new(read_file(store, key));
        entry.files.insert(key.to_path_buf(), read.clone());
        Some(read)
    }

    /// `read` of the open history of `workspace`, checked to be current; `None` when there is none
    /// it can read.
    pub fn with_store<T>(&self, workspace: &Path, read: impl FnOnce(&Store) -> T) -> Option<T> {
        let mut known = self.inner.borrow_mut();
        let store = known.workspace(workspace)?.store.as_ref()?;
        Some(read(store))
    }

    /// The active sessions of the phase template `key` (an absolute path), as the history holds
    /// them; read again only after the history changed. Empty without a history.
    pub fn sessions(&self, key: &Path) -> Arc<Vec<SessionStatus>> {
        let workspace = engine::workspace_of(key);
        let mut known = self.inner.borrow_mut();
        let Some(entry) = known.workspace(&workspace) else { return Arc::default() };
        if entry.store.is_none() {
            return Arc::default();
        }
        if let Some(known) = entry.sessions.get(key) {
            return known.clone();
        }
        // `session::status` opens the history read-only, as this module does, and never starts
        // git (`live_git` false).
        let read = match session::status(&workspace, session::Which::Template(key), false) {
            Ok(sessions) => sessions,
            Err(error) => {
                tracing::warn!("{}: cannot read its sessions: {error}", key.display());
                Vec::new()
            }
        };
        let read = Arc::new(read);
        entry.sessions.insert(key.to_path_buf(), read.clone());
        read
    }

    /// A number that changes whenever the history of `workspace` changed since it was last asked
    /// about (see `Known::generations`). Costs one `stat` and, with a history, one
    /// `PRAGMA data_version`.
    pub fn generation(&self, workspace: &Path) -> u64 {
        let mut known = self.inner.borrow_mut();
        let _ = known.workspace(workspace);
        known.generations.get(workspace).copied().unwrap_or_default()
    }

    /// The messages about unreadable histories not yet shown to the user: each workspace's once.
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut self.inner.borrow_mut().notices)
    }
}

impl Known {
    fn workspace(&mut self, workspace: &Path) -> Option<&mut Workspace> {
        let path = store::state_dir(workspace).join("weft.db");
        let stamp = Stamp::of(&path);
        let current = match self.workspaces.get_mut(workspace) {
            Some(entry) => {
                let version = entry.version;
                let current = entry.is_current(stamp);
                if !current || entry.version != version {
                    *self.generations.entry(workspace.to_path_buf()).or_default() += 1;
                }
                current
            }
            None => {
                if stamp.is_some() {
                    *self.generations.entry(workspace.to_path_buf()).or_default() += 1;
                }
                false
            }
        };
        if !current {
            self.workspaces.remove(workspace);
            let stamp = stamp?;
            let store = match Store::open_existing(workspace) {
                Ok(store) => store,
                Err(error) => {
                    if self.reported.insert(workspace.to_path_buf()) {
                        tracing::warn!("{}: {error}", workspace.display());
                        self.notices.push(format!(
                            "weft: {error}; the editor shows no run history for {} (the file is left as it is)",
                            workspace.display()
                        ));
                    }
                    None
                }
            };
            let version = store.as_ref().and_then(|store| store.data_version().ok()).unwrap_or_default();
            let entry =
                Workspace { stamp: Some(stamp), store, version, files: HashMap::new(), sessions: HashMap::new() };
            self.workspaces.insert(workspace.to_path_buf(), entry);
        }
        self.workspaces.get_mut(workspace)
    }
}

impl Workspace {
    /// Whether what was read still stands, given the file's `stamp` now; drops the files read
    /// before a commit.
    fn is_current(&mut self, stamp: Option<Stamp>) -> bool {
        let (Some(now), Some(then)) = (stamp, self.stamp) else { return false };
        let Some(store) = &self.store else {
            // Unreadable: tried again when the file changes.
            return now == then;
        };
        if !now.same_file(&then) {
            return false;
        }
        match store.data_version() {
            Ok(version) if version == self.version => true,
            Ok(version) => {
                self.version = version;
                self.files.clear();
                self.sessions.clear();
                true
            }
            Err(_) => false,
        }
    }
}

fn read_file(store: &Store, key: &Path) -> FileHistory {
    let last = store
        .latest_step_results(key)
        .unwrap_or_default()
        .into_iter()
        .map(|(run, step)| (step.id.clone(), (run, step)))
        .collect();
    let runs = store.runs(Some(key), 20).unwrap_or_default();
    let volatile = runs.iter().any(|run| run.status == RunStatus::Running);
    FileHistory { last, resumable: resumable(store, &runs), volatile }
}

/// The latest run of a file that can be resumed: failed, canceled, quarantined, or interrupted (a
/// run whose engine is gone; see [`Store::runs`]). A later run of only some stages does not hide
/// it; a later full run that succeeded does.
fn resumable(store: &Store, runs: &[store::RunRecord]) -> Option<Resumable> {
    for run in runs {
        let steps = store.steps(run.id).ok()?;
        let partial = steps.iter().any(|s| s.reason.as_deref() == Some("not selected"));
        let resumable = match run.status {
            RunStatus::Failed | RunStatus::Canceled | RunStatus::Quarantined | RunStatus::Interrupted => true,
            RunStatus::Running | RunStatus::Succeeded => false,
        };
        if resumable {
            let done = steps.iter().filter(|s| s.status == StepStatus::Succeeded).count();
            return Some(Resumable { run: run.id, done, total: steps.len() });
        }
        if !partial {
            return None;
        }
    }
    None
}
