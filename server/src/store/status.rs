//! The statuses the history records for runs, steps and attempts. Each is stored as the text of
//! its `as_str`, and serialized as that text in every output (`weft status --format json`,
//! `weft/runs`), so the text of a status never changes once it has shipped.
//!
//! A history may come from elsewhere (see [`super::Store::open_existing`]): a status this weft does
//! not know, read from the database, is an error naming it, never a panic.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Serialize, Serializer};

/// The status of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Canceled,
    /// A circuit breaker opened during the run.
    Quarantined,
    /// Never recorded: a run recorded as running whose engine is gone (nobody holds its lock) is
    /// shown as interrupted.
    Interrupted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Canceled,
        RunStatus::Quarantined,
        RunStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Canceled => "canceled",
            RunStatus::Quarantined => "quarantined",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// The status a text names, or `None` for a text this weft never writes.
    pub fn parse(text: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|candidate| candidate.as_str() == text)
    }
}

/// The status of a step in a run, and of one attempt of a step (an attempt is never pending or
/// skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Canceled,
    TimedOut,
    /// A step or attempt whose engine died while it ran. Recorded for attempts once what the dead
    /// engine left running is stopped; for steps, only shown (see `Store::steps`).
    Interrupted,
    /// A step that waits for a human's decision (`approval`): `weft approve` or `weft reject`.
    /// Never an attempt: the step's action, if it has one, starts once it is approved.
    Waiting,
    /// A step that succeeded and whose rollback action then undid it (a failed run with
    /// `rollback: true`, or `weft rollback`). Only steps are rolled back, never attempts.
    RolledBack,
}

impl StepStatus {
    pub const ALL: [StepStatus; 10] = [
        StepStatus::Pending,
        StepStatus::Running,
        StepStatus::Succeeded,
        StepStatus::Failed,
        StepStatus::Skipped,
        StepStatus::Canceled,
        StepStatus::TimedOut,
        StepStatus::Interrupted,
        StepStatus::Waiting,
        StepStatus::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Canceled => "canceled",
            StepStatus::TimedOut => "timed_out",
            StepStatus::Interrupted => "interrupted",
            StepStatus::Waiting => "waiting",
            StepStatus::RolledBack => "rolled_back",
        }
    }

    /// The status a text names, or `None` for a text this weft never writes.
    pub fn parse(text: &str) -> Option<StepStatus> {
        StepStatus::ALL.into_iter().find(|candidate| candidate.as_str() == text)
    }

    /// Whether a step or attempt with this status has ended: it does not change again unless the
    /// run is resumed.
    pub fn is_final(self) -> bool {
        match self {
            StepStatus::Succeeded
            | StepStatus::Failed
            | StepStatus::Skipped
            | StepStatus::Canceled
            | StepStatus::TimedOut
            | StepStatus::RolledBack => true,
            StepStatus::Pending | StepStatus::Running | StepStatus::Interrupted | StepStatus::Waiting => false,
        }
    }
}

/// A status is its text everywhere it goes: printed (padded as a `str` is), serialized, and in the
/// database, where a text this weft does not know is an error naming it.
macro_rules! status_as_text {
    ($name:ident, $what:literal) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        /// A status equals its text, as read back from an output or the database.
        impl PartialEq<str> for $name {
            fn eq(&self, text: &str) -> bool {
                self.as_str() == text
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, text: &&str) -> bool {
                self.as_str() == *text
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    FromSqlError::Other(format!(concat!("unknown ", $what, " `{}`"), text.escape_debug()).into())
                })
            }
        }
    };
}

status_as_text!(RunStatus, "run status");
status_as_text!(StepStatus, "step status");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_parses_from_its_text_and_nothing_else_does() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for status in StepStatus::ALL {
            assert_eq!(StepStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(RunStatus::parse("Running"), None);
        assert_eq!(StepStatus::parse("timed out"), None);
        assert_eq!(format!("[{:<10}]", StepStatus::TimedOut), "[timed_out ]");
    }

    #[test]
    fn an_unknown_status_in_the_database_is_an_error_naming_it() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        let read = |text: &str| connection.query_row("SELECT ?1", [text], |row| row.get::<_, StepStatus>(0));
        assert_eq!(read("skipped").unwrap(), StepStatus::Skipped);
        let error = read("exploded\n").unwrap_err().to_string();
        assert!(error.contains("unknown step status `exploded\\n`"), "{error}");
    }
}
