//! The attempt journal of a run: `.weft/runs/<run>/journal`, one line per attempt, appended with
//! one `write` before the attempt's process is started.
//!
//! The history learns of an attempt up to one commit interval after its process started; an engine
//! killed in between leaves a process the history does not know. The journal closes that gap for
//! attempt numbers: it is written before the process exists, and a write that returned survives
//! the death of the process that made it (it is in the page cache; only a power cut, which also
//! ends the step, can lose it), so no fsync is needed. A resumed run numbers each step's attempts
//! above everything the history, the journal and the run's folder know of.
//!
//! Invariant: an attempt's process is started only after its journal line is written, so an
//! attempt number that ever ran is never given to another attempt of the step, and no two
//! attempts share a file.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The journal file of a run folder.
pub fn journal_path(run_dir: &Path) -> PathBuf {
    run_dir.join("journal")
}

/// An open journal, appended to by the engine that holds the run's lock.
pub struct Journal {
    file: File,
    line: String,
}

/// One attempt as the journal has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub step: String,
    pub attempt: i64,
    /// When the engine was about to start it (RFC 3339, as the history writes times).
    pub at: String,
}

impl Journal {
    /// Opens (creating) the journal of a run folder that exists.
    pub fn open(run_dir: &Path) -> std::io::Result<Journal> {
        let file = File::options().create(true).append(true).open(journal_path(run_dir))?;
        Ok(Journal { file, line: String::with_capacity(128) })
    }

    /// Appends `at <tab> attempt <tab> step` in one write (the file is opened for appending, so
    /// lines of two writers never interleave within a line).
    pub fn record_start(&mut self, step: &str, attempt: u32, at: &str) -> std::io::Result<()> {
        use std::fmt::Write as _;
        self.line.clear();
        let _ = writeln!(self.line, "{at}\t{attempt}\t{step}");
        self.file.write_all(self.line.as_bytes())
    }
}

/// The attempts a run's journal records, in order. A line cut short (a full disk) is skipped.
pub fn read_journal(run_dir: &Path) -> Vec<JournalEntry> {
    let Ok(text) = std::fs::read_to_string(journal_path(run_dir)) else { return Vec::new() };
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let at = fields.next()?.to_owned();
            let attempt = fields.next()?.parse().ok()?;
            let step = fields.next().filter(|s| !s.is_empty())?.to_owned();
            Some(JournalEntry { step, attempt, at })
        })
        .collect()
}

/// The highest attempt number of each step among the attempt files of a run folder
/// (`<step>.<attempt>.<stream>`): files an attempt wrote, whatever the history and journal say.
pub fn attempts_on_disk(run_dir: &Path) -> HashMap<String, i64> {
    let mut highest: HashMap<String, i64> = HashMap::new();
    let Ok(entries) = std::fs::read_dir(run_dir) else { return highest };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let mut parts = name.rsplitn(3, '.');
        let (Some(stream), Some(attempt), Some(step)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if !matches!(stream, "stdout" | "stderr" | "output") {
            continue;
        }
        let Ok(attempt) = attempt.parse::<i64>() else { continue };
        let slot = highest.entry(step.to_owned()).or_default();
        *slot = (*slot).max(attempt);
    }
    highest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_lines_and_attempt_files_are_read_back() {
        let dir = std::env::temp_dir().join(format!("weft-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut journal = Journal::open(&dir).unwrap();
        journal.record_start("build", 1, "2026-12-06T10:00:00.000Z").unwrap();
        journal.record_start("a step.with dots", 3, "2026-12-06T10:00:01.000Z").unwrap();
        std::fs::OpenOptions::new().append(true).open(journal_path(&dir)).unwrap().write_all(b"2026-12-06T1").unwrap();
        assert_eq!(
            read_journal(&dir),
            [
                JournalEntry { step: "build".into(), attempt: 1, at: "2026-12-06T10:00:00.000Z".into() },
                JournalEntry { step: "a step.with dots".into(), attempt: 3, at: "2026-12-06T10:00:01.000Z".into() },
            ]
        );
        for name in ["build.2.stdout", "build.4.output", "x.y.1.stderr", "build.rollback.stdout", "journal"] {
            std::fs::write(dir.join(name), "x").unwrap();
        }
        let disk = attempts_on_disk(&dir);
        assert_eq!(disk.get("build"), Some(&4));
        assert_eq!(disk.get("x.y"), Some(&1));
        assert_eq!(disk.len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
