//! Git capture (SPEC §7, docs/adr/0006-git-capture.md): the repository's HEAD, branch and dirty
//! flag at the moments a session or a run records, and the commits made between two of them.
//!
//! Capture runs the `git` executable, and a repository can be hostile: git runs programs named in
//! its configuration for some commands (`core.fsmonitor`, filter drivers chosen by
//! `.gitattributes`, hooks, `diff.external`, textconv, `gpg.program` through `log.showSignature`,
//! the pager, submodules' own configuration). Invariant: capture never executes anything the
//! repository configures. Every git started here
//! - gets a clean environment (no `GIT_DIR`, `GIT_CONFIG_*`, `GIT_EXTERNAL_DIFF`… from ours): only
//!   `PATH`, `HOME`, `LC_ALL=C`, `GIT_OPTIONAL_LOCKS=0` (status never writes the index),
//!   `GIT_TERMINAL_PROMPT=0`, `GIT_PAGER=cat`;
//! - has every setting that could run a program overridden on the command line (`-c` wins over
//!   every configuration file); the commands that may read contents or diff (`status`, `log`) also
//!   get each filter driver the configuration names emptied (read first with `git config
//!   --get-regexp`, which only reads files and includes, and executes nothing);
//! - uses plumbing that reads no file contents where it can (`rev-parse`, `symbolic-ref`,
//!   `log` without patches); the one command that compares contents, `status`, ignores submodules
//!   and untracked files, and its filters are the neutralised ones.
//!
//! Capture is negligible when there is no repository: nothing is spawned unless a `.git` is found
//! walking up from the workspace. It happens only in explicit actions (session commands, runs);
//! the language server never calls it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::store::Commit;

/// The repository at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitState {
    /// The commit HEAD points at; `None` in a repository with no commit yet.
    pub head: Option<String>,
    /// The branch HEAD is on; `None` when detached.
    pub branch: Option<String>,
    /// Tracked files differ from HEAD (staged or not). Untracked files do not count (weft's own
    /// `.weft/` would make every workspace dirty).
    pub dirty: bool,
}

/// The most commits listed for one phase.
pub const MAX_COMMITS: usize = 200;

/// The folder holding `.git` (a folder, or a file for worktrees and submodules) at or above
/// `workspace`, if any. Only reads the file system.
pub fn repository_of(workspace: &Path) -> Option<PathBuf> {
    let mut folder = Some(workspace);
    while let Some(dir) = folder {
        if dir.join(".git").exists() {
            return Some(dir.to_path_buf());
        }
        folder = dir.parent();
    }
    None
}

/// The repository's state, or `None` when the workspace is in no repository (nothing is spawned
/// then) or git cannot tell (git missing, a folder git does not trust).
pub fn capture(workspace: &Path) -> Option<GitState> {
    repository_of(workspace)?;
    // Two gits at a time: HEAD and branch (plumbing that reads no file contents) beside the
    // configuration read and the status that follows it, so a capture costs about two spawns of
    // wall time.
    let ((head, branch), dirty) = std::thread::scope(|scope| {
        let heads = scope.spawn(|| head_and_branch(&SafeGit::base(workspace)));
        let dirty = SafeGit::new(workspace).dirty();
        (heads.join().unwrap_or_default(), dirty)
    });
    if head.is_none() && branch.is_none() && dirty.is_none() {
        return None;
    }
    Some(GitState { head, branch, dirty: dirty.unwrap_or(false) })
}

/// HEAD's commit and branch, in one git when there is a commit (`rev-parse` prints the commit,
/// then the branch, or `HEAD` when detached); in a repository without commits, the branch only.
fn head_and_branch(git: &SafeGit) -> (Option<String>, Option<String>) {
    if let Some(text) = git.output(&["rev-parse", "HEAD^{commit}", "--abbrev-ref", "HEAD"]) {
        let mut lines = text.lines().map(str::trim);
        let head = lines.next().filter(|sha| is_object_name(sha)).map(str::to_owned);
        let branch = lines.next().filter(|name| !name.is_empty() && *name != "HEAD").map(str::to_owned);
        if head.is_some() {
            return (head, branch);
        }
    }
    let branch = git
        .output(&["symbolic-ref", "--quiet", "--short", "HEAD"])
        .map(|text| text.trim().to_owned())
        .filter(|name| !name.is_empty());
    (None, branch)
}

/// The commits reachable from `to` and not from `from` (all reachable from `to` when `from` is
/// `None`), newest first, at most [`MAX_COMMITS`]. Empty outside a repository or when either
/// commit is unknown.
pub fn commits_between(workspace: &Path, from: Option<&str>, to: &str) -> Vec<Commit> {
    if repository_of(workspace).is_none() || !is_object_name(to) || from.is_some_and(|from| !is_object_name(from)) {
        return Vec::new();
    }
    let git = SafeGit::new(workspace);
    let range = match from {
        Some(from) if from == to => return Vec::new(),
        Some(from) => format!("{from}..{to}"),
        None => to.to_owned(),
    };
    let max = format!("--max-count={MAX_COMMITS}");
    let Some(text) = git.output(&[
        "log",
        "--no-show-signature",
        "--no-notes",
        "--no-decorate",
        "--no-ext-diff",
        "--no-textconv",
        "--no-color",
        &max,
        "--format=%H%x1f%s%x1f%an%x1f%aI%x1e",
        &range,
        "--",
    ]) else {
        return Vec::new();
    };
    text.split('\u{1e}')
        .filter_map(|record| {
            let mut fields = record.trim_start_matches('\n').split('\u{1f}');
            let sha = fields.next()?.to_owned();
            if sha.is_empty() {
                return None;
            }
            Some(Commit {
                sha,
                subject: fields.next().unwrap_or_default().to_owned(),
                author: fields.next().unwrap_or_default().to_owned(),
                at: fields.next().unwrap_or_default().trim().to_owned(),
            })
        })
        .collect()
}

/// A full or abbreviated hexadecimal object name: nothing git could read as an option or a
/// revision expression.
fn is_object_name(text: &str) -> bool {
    (4..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Settings that make git run a program, overridden for every git capture starts. Values that
/// name no program: an empty command is no command to git.
const NEUTRAL_SETTINGS: &[(&str, &str)] = &[
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
    ("core.pager", "cat"),
    ("core.sshCommand", ""),
    ("core.askPass", ""),
    ("core.untrackedCache", "false"),
    ("diff.external", ""),
    ("log.showSignature", "false"),
    ("gpg.program", ""),
    ("gpg.ssh.program", ""),
    ("gpg.x509.program", ""),
    ("status.submoduleSummary", "false"),
    ("submodule.recurse", "false"),
    ("diff.ignoreSubmodules", "all"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("credential.helper", ""),
    ("protocol.allow", "never"),
];

/// A git command line with the repository's programs neutralised (see the module's invariant).
struct SafeGit {
    workspace: PathBuf,
    overrides: Vec<String>,
}

impl SafeGit {
    /// Every setting of [`NEUTRAL_SETTINGS`] overridden; enough for commands that read no file
    /// contents (`rev-parse`, `symbolic-ref`).
    fn base(workspace: &Path) -> SafeGit {
        let overrides = NEUTRAL_SETTINGS.iter().map(|(key, value)| format!("{key}={value}")).collect();
        SafeGit { workspace: workspace.to_path_buf(), overrides }
    }

    /// [`SafeGit::base`] and every filter driver the configuration defines emptied: for commands
    /// that may read contents (`status`) or diff (`log`).
    fn new(workspace: &Path) -> SafeGit {
        let mut git = SafeGit::base(workspace);
        // Filter drivers are named by the repository (`.gitattributes` chooses them, any
        // configuration file defines them): each one defined anywhere is emptied. `git config`
        // reads the files, following includes, and runs nothing.
        let defined = git.output(&["config", "--null", "--get-regexp", r"^filter\..*\.(clean|smudge|process)$"]);
        for entry in defined.as_deref().unwrap_or_default().split('\0') {
            let key = entry.split('\n').next().unwrap_or_default();
            let Some(rest) = key.strip_prefix("filter.") else { continue };
            let Some((name, _)) = rest.rsplit_once('.') else { continue };
            if name.contains('=') || name.contains('\n') {
                // `-c` cannot name this driver; comparing contents is given up rather than risked.
                git.overrides.push("weft.unsafe-filter=true".to_owned());
                continue;
            }
            for variable in ["clean", "smudge", "process"] {
                git.overrides.push(format!("filter.{name}.{variable}="));
            }
            git.overrides.push(format!("filter.{name}.required=false"));
        }
        git
    }

    fn command(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new("git");
        command.env_clear();
        for variable in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(variable) {
                command.env(variable, value);
            }
        }
        command
            .env("LC_ALL", "C")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_PAGER", "cat")
            .env("PAGER", "cat")
            .env("GIT_NO_REPLACE_OBJECTS", "1");
        command.arg("--no-pager").arg("--no-replace-objects");
        for setting in &self.overrides {
            command.arg("-c").arg(setting);
        }
        command.args(arguments).current_dir(&self.workspace).stdin(Stdio::null()).stderr(Stdio::null());
        command
    }

    /// What git printed when it succeeded.
    fn output(&self, arguments: &[&str]) -> Option<String> {
        let output = self.command(arguments).stdout(Stdio::piped()).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Whether tracked files differ from HEAD; `None` when it cannot be told safely.
    fn dirty(&self) -> Option<bool> {
        if self.overrides.iter().any(|setting| setting == "weft.unsafe-filter=true") {
            return None;
        }
        let text = self.output(&[
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=no",
            "--ignore-submodules=all",
            "--no-renames",
        ])?;
        Some(!text.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_object_names_reach_the_command_line() {
        assert!(is_object_name("0123abcd"));
        assert!(!is_object_name("--output=/tmp/x"));
        assert!(!is_object_name("HEAD"));
        assert!(!is_object_name("abc"));
    }

    #[test]
    fn head_branch_and_dirty_flag_through_a_repository_s_life() {
        let dir = std::env::temp_dir().join(format!("weft-git-life-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let git = |args: &[&str]| {
            let output = Command::new("git")
                .args(["-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "core.hooksPath=/dev/null"])
                .args(args)
                .current_dir(&dir)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap();
            assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        };
        git(&["init", "-q", "-b", "trunk"]);
        let empty = capture(&dir).expect("a repository without commits is still captured");
        assert_eq!((empty.head, empty.branch.as_deref(), empty.dirty), (None, Some("trunk"), false));
        std::fs::write(dir.join("a.txt"), "one\n").unwrap();
        git(&["add", "a.txt"]);
        assert!(capture(&dir).unwrap().dirty, "a staged file makes it dirty");
        git(&["commit", "-q", "-m", "first"]);
        let first = git(&["rev-parse", "HEAD"]);
        let state = capture(&dir).unwrap();
        assert_eq!(
            (state.head.as_deref(), state.branch.as_deref(), state.dirty),
            (Some(first.as_str()), Some("trunk"), false)
        );
        std::fs::write(dir.join("untracked.txt"), "x").unwrap();
        assert!(!capture(&dir).unwrap().dirty, "untracked files do not count");
        std::fs::write(dir.join("a.txt"), "two\n").unwrap();
        git(&["commit", "-q", "-am", "second"]);
        let second = git(&["rev-parse", "HEAD"]);
        let commits = commits_between(&dir, Some(&first), &second);
        assert_eq!(commits.len(), 1);
        assert_eq!(
            (commits[0].sha.as_str(), commits[0].subject.as_str(), commits[0].author.as_str()),
            (second.as_str(), "second", "T")
        );
        assert_eq!(commits_between(&dir, None, &second).len(), 2);
        assert!(commits_between(&dir, Some(&second), &second).is_empty());
        git(&["checkout", "-q", "--detach", &first]);
        let detached = capture(&dir).unwrap();
        assert_eq!((detached.head.as_deref(), detached.branch), (Some(first.as_str()), None));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn outside_a_repository_nothing_is_captured() {
        let dir = std::env::temp_dir().join(format!("weft-git-none-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        if repository_of(&dir).is_none() {
            assert_eq!(capture(&dir), None);
            assert!(commits_between(&dir, None, "0123abcd").is_empty());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
