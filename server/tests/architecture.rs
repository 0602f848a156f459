//! The layering that ARCHITECTURE.md describes, kept true by reading the sources under `server/src`.
//!
//! Each rule names what a file may mention, outside comments and string literals: protocol types
//! only under `lsp/`, SQLite only under `store/`, process and signal calls only under `engine/`,
//! LSP positions made only in `lsp/position.rs`, runs started only by the commands a user gives, and
//! `crate::` paths that point down the layers, never up. A failure names the file, the line, the
//! rule and what was found. An exception is written below with its reason; one that no longer
//! matches anything fails too, so the list never outlives the code it excuses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, from the bottom up, and the layers each may name through `crate::`. `fs` is the
/// small file-system helper beside them (reading text, walking folders by file kind).
const LAYERS: &[(&str, &[&str])] = &[
    ("syntax", &[]),
    ("model", &["syntax"]),
    ("analysis", &["syntax", "model"]),
    ("fs", &["syntax", "model"]),
    ("store", &[]),
    ("engine", &["syntax", "model", "analysis", "store", "fs"]),
    ("session", &["syntax", "model", "analysis", "engine", "store", "fs"]),
    ("lsp", &["syntax", "model", "analysis", "engine", "session", "store", "fs"]),
    ("cli", &["syntax", "model", "analysis", "engine", "session", "store", "fs", "lsp"]),
];

/// Process and signal calls: starting, waiting for and signalling processes, and changing how
/// signals are handled. Names after `libc::`; the paths after them are matched whole.
const PROCESS_CALLS: &[&str] = &[
    "kill",
    "killpg",
    "tgkill",
    "pidfd_open",
    "pidfd_send_signal",
    "fork",
    "vfork",
    "clone",
    "clone3",
    "SYS_clone",
    "SYS_clone3",
    "execv",
    "execve",
    "execvp",
    "execvpe",
    "waitpid",
    "waitid",
    "wait4",
    "posix_spawn",
    "posix_spawnp",
    "signal",
    "sigaction",
    "sigprocmask",
    "pthread_sigmask",
    "pthread_kill",
    "raise",
];
const PROCESS_PATHS: &[&str] = &["signal_hook", "process::Command", "process::CommandExt", "process::Child"];

/// A justified exception: in `file`, what `found` names is allowed despite `rule`, for `reason`.
struct Exception {
    file: &'static str,
    rule: &'static str,
    found: &'static str,
    reason: &'static str,
}

const EXCEPTIONS: &[Exception] = &[Exception {
    file: "store/writer.rs",
    rule: LAYER_RULE,
    found: "crate::engine",
    reason: "the store's writer thread blocks SIGCHLD like every other thread of the process, through \
             the engine's `process::block_child_signal`, so that the kernel hands each child's SIGCHLD \
             to the coordinator; the store itself neither signals nor waits for a process",
}];

const PROTOCOL_RULE: &str = "protocol types (lsp_types, lsp_server) only under lsp/";
const SQLITE_RULE: &str = "SQLite (rusqlite) only under store/";
const PROCESS_RULE: &str =
    "process and signal calls only under engine/ (the store records, the engine acts; the CLI asks engine::signals)";
const POSITION_RULE: &str = "LSP positions and ranges are made only in lsp/position.rs";
const START_RULE: &str =
    "runs start only from a user's command: engine::start/engine::resume/engine::rollback only in \
     cli/run.rs, lsp/runs.rs and session/ (a phase's `workflow:`, run by `weft phase complete` or the editor's \
     \"Complete phase\")";
const GIT_RULE: &str = "git capture (engine::git) only in engine/ and session/: a repository's git runs only in a \
     command the user gave (a session action, a run), never because the language server looked at a folder";
const LAYER_RULE: &str = "crate:: paths point down the layers (see LAYERS in tests/architecture.rs)";

struct Source {
    /// The path below `server/src`, with `/` separators.
    path: String,
    /// The text with comments and string and character literals blanked, lines kept.
    code: String,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    line: usize,
    rule: &'static str,
    found: String,
}

#[test]
fn every_layer_uses_only_what_it_may() {
    let sources = sources();
    assert!(sources.len() > 40, "expected the sources of weft under server/src, found {}", sources.len());
    let mut violations = Vec::new();
    for source in &sources {
        violations.extend(check(source));
    }
    let mut used = BTreeSet::new();
    violations.retain(|violation| match excused(violation) {
        Some(index) => {
            used.insert(index);
            false
        }
        None => true,
    });
    violations.sort();
    let report: Vec<String> = violations
        .iter()
        .map(|v| format!("server/src/{}:{}: breaks \"{}\": found `{}`", v.file, v.line, v.rule, v.found))
        .collect();
    assert!(report.is_empty(), "the layering of ARCHITECTURE.md is broken:\n{}", report.join("\n"));
    let stale: Vec<String> = EXCEPTIONS
        .iter()
        .enumerate()
        .filter(|(index, _)| !used.contains(index))
        .map(|(_, e)| format!("server/src/{}: `{}` under \"{}\" ({})", e.file, e.found, e.rule, e.reason))
        .collect();
    assert!(stale.is_empty(), "these exceptions excuse nothing any more; remove them:\n{}", stale.join("\n"));
}

/// The rules would pass on sources they cannot see; each must find what its own layer does.
#[test]
fn the_rules_see_what_their_layers_do() {
    let sources = sources();
    let find = |file: &str, needle: &str| {
        let source = sources.iter().find(|s| s.path == file).unwrap_or_else(|| panic!("no server/src/{file}"));
        !occurrences(&source.code, needle).is_empty()
    };
    assert!(find("lsp/server.rs", "lsp_types"));
    assert!(find("lsp/server.rs", "lsp_server"));
    assert!(find("store/mod.rs", "rusqlite"));
    let process = sources.iter().find(|s| s.path == "engine/process.rs").unwrap();
    assert!(!imports_of(&process.code, "std::process", "Command").is_empty());
    assert!(find("engine/signals.rs", "signal_hook"));
    assert!(find("engine/signals.rs", "libc::kill"));
    assert!(find("lsp/position.rs", "Position { line"));
    assert!(find("lsp/position.rs", "Range { start"));
    assert!(find("cli/run.rs", "engine::start"));
    assert!(find("session/mod.rs", "git::capture"));
    let cli = sources.iter().find(|s| s.path == "cli/mod.rs").unwrap();
    assert!(crate_paths(cli).iter().any(|(_, layer)| layer == "lsp"), "cli/mod.rs starts the language server");
}

#[test]
fn comments_and_literals_are_not_code() {
    let code = blank(
        "// rusqlite in a comment\nlet s = \"lsp_types\"; /* libc::kill /* nested */ */ let c = '\"';\n\
         let r = r#\"signal_hook \"# ; fn f<'a>(x: &'a str) {}\nlet y = rusqlite::x;",
    );
    assert_eq!(code.lines().count(), 4);
    assert!(occurrences(&code, "lsp_types").is_empty(), "{code}");
    assert!(occurrences(&code, "libc::kill").is_empty(), "{code}");
    assert!(occurrences(&code, "signal_hook").is_empty(), "{code}");
    assert_eq!(occurrences(&code, "rusqlite"), [4], "{code}");
    assert!(code.contains("fn f<'a>(x: &'a str)"), "{code}");
    // Whole names only: `libc::killpg` is not `libc::kill`, `crate::engine_x` is not `crate::engine`.
    assert_eq!(occurrences("libc::killpg(1)", "libc::kill"), Vec::<usize>::new());
    assert_eq!(occurrences("a libc::kill(1)", "libc::kill"), [1]);
    assert_eq!(
        libc_names("use libc::{c_int, kill as k};\nlibc::signal(1)"),
        [(1, "c_int".into()), (1, "kill".into()), (2, "signal".into())]
    );
}

fn check(source: &Source) -> Vec<Violation> {
    let mut found = Vec::new();
    let layer = layer_of(&source.path);
    let violation = |line: usize, rule: &'static str, what: &str| Violation {
        file: source.path.clone(),
        line,
        rule,
        found: what.to_owned(),
    };
    if layer != Some("lsp") {
        for needle in ["lsp_types", "lsp_server"] {
            found.extend(
                occurrences(&source.code, needle).into_iter().map(|line| violation(line, PROTOCOL_RULE, needle)),
            );
        }
    }
    if layer != Some("store") {
        found.extend(
            occurrences(&source.code, "rusqlite").into_iter().map(|line| violation(line, SQLITE_RULE, "rusqlite")),
        );
    }
    if layer != Some("engine") {
        for (line, name) in libc_names(&source.code) {
            if PROCESS_CALLS.contains(&name.as_str()) {
                found.push(violation(line, PROCESS_RULE, &format!("libc::{name}")));
            }
        }
        for needle in PROCESS_PATHS {
            found.extend(
                occurrences(&source.code, needle).into_iter().map(|line| violation(line, PROCESS_RULE, needle)),
            );
        }
        for module in ["std::process", "std::os::unix::process"] {
            for name in ["Command", "CommandExt", "Child"] {
                for line in imports_of(&source.code, module, name) {
                    found.push(violation(line, PROCESS_RULE, &format!("{module}::{name}")));
                }
            }
        }
    }
    if layer == Some("lsp") && source.path != "lsp/position.rs" {
        for needle in ["Position { line", "Position::new", "Range { start", "Range::new"] {
            found.extend(
                occurrences(&source.code, needle).into_iter().map(|line| violation(line, POSITION_RULE, needle)),
            );
        }
    }
    // A session runs a phase's `workflow:` only when a person completes the phase (`weft phase
    // complete`, the editor's lens), so the session layer may start runs too.
    if layer != Some("engine")
        && layer != Some("session")
        && source.path != "cli/run.rs"
        && source.path != "lsp/runs.rs"
    {
        for needle in ["engine::start", "engine::resume", "engine::rollback"] {
            found.extend(occurrences(&source.code, needle).into_iter().map(|line| violation(line, START_RULE, needle)));
        }
    }
    if layer != Some("engine") && layer != Some("session") {
        for needle in ["engine::git", "git::capture", "git::commits_between"] {
            found.extend(occurrences(&source.code, needle).into_iter().map(|line| violation(line, GIT_RULE, needle)));
        }
    }
    if let Some(layer) = layer {
        let allowed = LAYERS.iter().find(|(name, _)| *name == layer).map(|(_, allowed)| *allowed).unwrap_or(&[]);
        for (line, named) in crate_paths(source) {
            let is_layer = LAYERS.iter().any(|(name, _)| *name == named);
            if is_layer && named != layer && !allowed.contains(&named.as_str()) {
                found.push(violation(line, LAYER_RULE, &format!("crate::{named}")));
            }
        }
    }
    found
}

fn excused(violation: &Violation) -> Option<usize> {
    EXCEPTIONS.iter().position(|e| e.file == violation.file && e.rule == violation.rule && e.found == violation.found)
}

/// The layer a file belongs to: its folder below `server/src`, or `fs` for `fs.rs`. The crate root
/// files (`lib.rs`, `main.rs`, `allocator.rs`) belong to none.
fn layer_of(path: &str) -> Option<&'static str> {
    let first = path.split('/').next()?;
    let name = if path.contains('/') { first } else { first.strip_suffix(".rs")? };
    LAYERS.iter().map(|(layer, _)| *layer).find(|layer| *layer == name)
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let path = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            Source { path, code: blank(&text) }
        })
        .collect()
}

fn collect(folder: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(folder).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The text with comments, string literals and character literals replaced by spaces; newlines
/// stay, so line numbers are those of the file.
fn blank(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank_to = |out: &mut String, chars: &[char], from: usize, to: usize| {
        for &c in &chars[from..to.min(chars.len())] {
            out.push(if c == '\n' { '\n' } else { ' ' });
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let previous_is_ident = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            let end = chars[i..].iter().position(|&c| c == '\n').map_or(chars.len(), |p| i + p);
            blank_to(&mut out, &chars, i, end);
            i = end;
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank_to(&mut out, &chars, i, j);
            i = j;
        } else if !previous_is_ident && (c == 'r' || c == 'b') && raw_string_start(&chars, i).is_some() {
            let (hashes, open) = raw_string_start(&chars, i).unwrap();
            let mut j = open + 1;
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            blank_to(&mut out, &chars, i, j);
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            blank_to(&mut out, &chars, i, j + 1);
            i = j + 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F980}'), or else a lifetime, which stays.
            let end = if next == Some('\\') {
                chars[i + 2..].iter().position(|&c| c == '\'').map(|p| i + 2 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank_to(&mut out, &chars, i, end + 1);
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// For `r"`, `r#"`, `br"`, `br#"`…: the number of `#` and the index of the opening quote.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some((hashes, j + hashes))
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The 1-based lines where `needle` occurs as whole names: no name character just before it, and
/// none just after it when it ends in one.
fn occurrences(code: &str, needle: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    for (number, line) in code.lines().enumerate() {
        let mut from = 0;
        while let Some(position) = line[from..].find(needle) {
            let start = from + position;
            let end = start + needle.len();
            let before_ok = !line[..start].chars().next_back().is_some_and(is_ident);
            let after_ok =
                !needle.chars().next_back().is_some_and(is_ident) || !line[end..].chars().next().is_some_and(is_ident);
            if before_ok && after_ok {
                lines.push(number + 1);
                break;
            }
            from = end;
        }
    }
    lines
}

/// The names a path prefix reaches, with their lines: `prefix::name` and every name of a
/// `prefix::{a, b as c, d::e}` group (its first segment). With `path_start`, the prefix must begin
/// a path (`super::super::x` is not `super::x`).
fn names_after(code: &str, prefix: &str, path_start: bool) -> Vec<(usize, String)> {
    let mut names = Vec::new();
    let starts: Vec<usize> = code.match_indices(prefix).map(|(i, _)| i).collect();
    for start in starts {
        let before = code[..start].chars().next_back();
        if before.is_some_and(is_ident) || (path_start && before == Some(':')) {
            continue;
        }
        let line = code[..start].matches('\n').count() + 1;
        let rest = &code[start + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name: String = item.trim().chars().take_while(|&c| is_ident(c)).collect();
                if !name.is_empty() {
                    names.push((line, name));
                }
            }
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            if !name.is_empty() {
                names.push((line, name));
            }
        }
    }
    names
}

fn libc_names(code: &str) -> Vec<(usize, String)> {
    names_after(code, "libc::", false)
}

/// Lines where a `use` of `module::{…}` imports `name`.
fn imports_of(code: &str, module: &str, name: &str) -> Vec<usize> {
    names_after(code, &format!("{module}::"), false)
        .into_iter()
        .filter(|(_, n)| n == name)
        .map(|(line, _)| line)
        .collect()
}

/// The top-level modules a file names: through `crate::`, and through as many `super::` as lead
/// from the file's module to the crate root.
fn crate_paths(source: &Source) -> Vec<(usize, String)> {
    let mut named = names_after(&source.code, "crate::", true);
    let components = source.path.split('/').count();
    let depth = if source.path.ends_with("/mod.rs") { components - 1 } else { components };
    if !matches!(source.path.as_str(), "lib.rs" | "main.rs") {
        named.extend(names_after(&source.code, &"super::".repeat(depth), true));
    }
    named
}
