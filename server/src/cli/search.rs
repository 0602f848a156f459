//! `weft search` and `weft failures` (SPEC §7): the history read back, ranked or counted.

use std::io::Write;
use std::path::Path;

use crate::store::{self, Query, Scope, Store};

use super::run::workspace_here;

/// Where `weft search` looks.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchScope {
    /// One session of the task (--task): its active one, else its latest.
    Session,
    /// Every session of the task (--task), and the runs their phases started.
    Task,
    /// The whole workspace's history.
    Project,
}

pub struct SearchArgs<'a> {
    pub text: &'a str,
    pub scope: Option<SearchScope>,
    pub task: Option<&'a str>,
    pub since: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub limit: usize,
    pub json: bool,
    pub color: bool,
    pub workspace: Option<&'a Path>,
}

/// Turns `--since` into the history's time text: a date (`2026-12-01`), a date and time
/// (`2026-12-01T10:00`, `2026-12-01 10:00:00`, RFC 3339 with `Z`), or an age (`30m`, `12h`, `7d`).
pub fn parse_since(text: &str) -> Result<String, String> {
    let text = text.trim();
    let invalid = || {
        format!("--since {text:?}: give a date (2026-12-01), a UTC date and time (2026-12-01T10:00) or an age (30m, 12h, 7d)")
    };
    if let Some(unit) = text.chars().last().filter(|c| matches!(c, 'm' | 'h' | 'd' | 'w')) {
        let number: u64 = text[..text.len() - 1].parse().map_err(|_| invalid())?;
        let seconds = number.saturating_mul(match unit {
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => 604_800,
        });
        let time = std::time::SystemTime::now()
            .checked_sub(std::time::Duration::from_secs(seconds))
            .unwrap_or(std::time::UNIX_EPOCH);
        return Ok(store::format_time(time));
    }
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes.get(range).is_some_and(|b| b.iter().all(u8::is_ascii_digit));
    let is_date =
        digits(0..4) && bytes.get(4) == Some(&b'-') && digits(5..7) && bytes.get(7) == Some(&b'-') && digits(8..10);
    if !is_date {
        return Err(invalid());
    }
    let (date, rest) = text.split_at(10);
    let rest = rest.trim_start_matches(['T', ' ']).trim_end_matches('Z');
    let mut parts = rest.split(':');
    let mut next = |default: &str| -> Result<String, String> {
        let part = parts.next().unwrap_or(default);
        let whole = part.split('.').next().unwrap_or("");
        if whole.len() == 2 && whole.bytes().all(|b| b.is_ascii_digit()) {
            Ok(whole.to_owned())
        } else {
            Err(invalid())
        }
    };
    let (hour, minute, second) =
        if rest.is_empty() { ("00".into(), "00".into(), "00".into()) } else { (next("00")?, next("00")?, next("00")?) };
    Ok(format!("{date}T{hour}:{minute}:{second}.000Z"))
}

pub fn search(args: SearchArgs<'_>) -> u8 {
    let workspace = workspace_here(args.workspace);
    let since = match args.since.map(parse_since).transpose() {
        Ok(since) => since,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let store = match open(&workspace) {
        Ok(Some(store)) => store,
        Ok(None) => {
            eprintln!("error: no history in {} (nothing has run here yet)", workspace.display());
            return 2;
        }
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let scope_kind = args.scope.unwrap_or(if args.task.is_some() { SearchScope::Task } else { SearchScope::Project });
    let scope = match (scope_kind, args.task) {
        (SearchScope::Project, _) => Scope::Project,
        (SearchScope::Task, Some(task)) => Scope::Task(task.to_owned()),
        (SearchScope::Session, Some(task)) => {
            let session = store.active_session(task).and_then(|active| match active {
                Some(session) => Ok(Some(session)),
                None => store.latest_session(task),
            });
            match session {
                Ok(Some(session)) => Scope::Session(session.id),
                Ok(None) => {
                    eprintln!("error: task {task} has no session here");
                    return 2;
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    return 2;
                }
            }
        }
        (_, None) => {
            eprintln!("error: --scope session and --scope task need --task TASK");
            return 2;
        }
    };
    let query = Query { text: args.text, scope, since, kind: args.kind, limit: args.limit };
    let hits = match store.search(&query) {
        Ok(hits) => hits,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = serde_json::json!({ "query": args.text, "hits": hits });
        let _ = writeln!(out, "{report}");
        return 0;
    }
    if hits.is_empty() {
        let _ = writeln!(out, "no match for {:?}", args.text);
        return 0;
    }
    for hit in &hits {
        let mut place = Vec::new();
        if let Some(task) = &hit.task {
            place.push(format!("task {task}"));
        }
        if let Some(phase) = &hit.phase {
            place.push(format!("phase {phase}"));
        }
        if let Some(run) = hit.run {
            place.push(format!("run {run}"));
        }
        if let Some(step) = &hit.step {
            place.push(match hit.attempt {
                Some(attempt) => format!("{step} (attempt {attempt})"),
                None => step.clone(),
            });
        }
        let when = hit.at.get(..16).unwrap_or(&hit.at).replace('T', " ");
        let _ = writeln!(out, "{when}  {}  {}", hit.kind, place.join(" · "));
        let _ = writeln!(out, "    {}", marked(&hit.marked, args.color));
    }
    0
}

/// A snippet for the terminal: the matched words in bold yellow when colour is on, else between
/// brackets; the text's own control characters become spaces.
fn marked(marked: &str, color: bool) -> String {
    use store::events::{MARK_END, MARK_START};
    let (start, end) = if color { ("\x1b[1;33m", "\x1b[0m") } else { ("[", "]") };
    let mut out = String::with_capacity(marked.len() + 16);
    for c in marked.chars() {
        match c {
            MARK_START => out.push_str(start),
            MARK_END => out.push_str(end),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

pub fn failures(since: Option<&str>, json: bool, workspace: Option<&Path>) -> u8 {
    let workspace = workspace_here(workspace);
    let since = match since.map(parse_since).transpose() {
        Ok(since) => since,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let failures = match open(&workspace) {
        Ok(Some(store)) => store.failures(since.as_deref()),
        Ok(None) => Ok(Vec::new()),
        Err(error) => Err(error),
    };
    let failures = match failures {
        Ok(failures) => failures,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{}", serde_json::json!({ "failures": failures }));
        return 0;
    }
    if failures.is_empty() {
        let _ = writeln!(out, "no failures recorded{}", since.map(|s| format!(" since {s}")).unwrap_or_default());
        return 0;
    }
    for failure in &failures {
        let runs: Vec<String> = failure.runs.iter().map(|r| r.to_string()).collect();
        let mut seen_in = Vec::new();
        if !runs.is_empty() {
            seen_in.push(format!("runs {}", runs.join(",")));
        }
        if !failure.tasks.is_empty() {
            seen_in.push(format!("tasks {}", failure.tasks.join(",")));
        }
        let _ = writeln!(
            out,
            "{}  {}×  {}  {}  first {}  last {}  {}",
            failure.fingerprint,
            failure.count,
            failure.class,
            failure.subject,
            short_time(&failure.first_seen),
            short_time(&failure.last_seen),
            seen_in.join("; "),
        );
        let text: String = failure.normalized.lines().last().unwrap_or("").chars().take(120).collect();
        if !text.is_empty() {
            let _ = writeln!(out, "    {text}");
        }
    }
    0
}

/// The workspace's history, brought up to this weft's schema; `None` when there is none (it is not
/// created just to be searched).
fn open(workspace: &Path) -> store::Result<Option<Store>> {
    if !store::state_dir(workspace).join("weft.db").is_file() {
        return Ok(None);
    }
    Store::open(workspace).map(Some)
}

fn short_time(at: &str) -> String {
    at.get(..16).unwrap_or(at).replace('T', " ")
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn only_the_matches_are_marked_not_the_texts_own_brackets() {
        let raw = "[Errno 111] Connection \u{2}refused\u{3}\tby db";
        assert_eq!(super::marked(raw, false), "[Errno 111] Connection [refused] by db");
        assert_eq!(super::marked(raw, true), "[Errno 111] Connection \x1b[1;33mrefused\x1b[0m by db");
    }

    #[test]
    fn since_takes_dates_times_and_ages() {
        assert_eq!(parse_since("2026-12-01").unwrap(), "2026-12-01T00:00:00.000Z");
        assert_eq!(parse_since("2026-12-01T10:30").unwrap(), "2026-12-01T10:30:00.000Z");
        assert_eq!(parse_since("2026-12-01 10:30:05").unwrap(), "2026-12-01T10:30:05.000Z");
        assert_eq!(parse_since("2026-12-01T10:30:05.123Z").unwrap(), "2026-12-01T10:30:05.000Z");
        assert!(parse_since("7d").unwrap() < crate::store::now());
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("2026-1-1").is_err());
        assert!(parse_since("12x").is_err());
        assert!(parse_since("h").is_err());
    }
}
