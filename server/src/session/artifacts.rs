//! Required and optional artifacts (SPEC §7): paths or globs relative to the workspace, with
//! `{task}` substituted. An artifact is present when it is a non-empty file (or a folder with
//! something in it); a glob is present when it matches at least one such file. An empty file
//! counts as missing: a template asks for an artifact to be written, not touched.

use std::path::{Path, PathBuf};

/// The most folder entries one glob looks at, so that a `**` over a huge tree stays bounded.
const MAX_VISITED: usize = 200_000;

/// Folders a `**` never enters: tool state, dependencies and build output.
const SKIPPED: [&str; 5] = [".git", ".weft", "node_modules", "target", "__pycache__"];

/// True when the text has glob syntax: `*`, `?` or `[`.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Whether the artifact `pattern` (already substituted) is present under `root`.
pub fn present(root: &Path, pattern: &str) -> bool {
    if is_glob(pattern) {
        !matches(root, pattern, 1).is_empty()
    } else {
        non_empty(&root.join(pattern))
    }
}

fn non_empty(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => metadata.len() > 0,
        Ok(metadata) if metadata.is_dir() => std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some()),
        _ => false,
    }
}

/// The non-empty files under `root` that `pattern` matches, at most `limit`. A pattern is `/`
/// separated; in a component `*` matches any run of characters, `?` one, `[abc]`/`[a-z]`/`[!a]`
/// one of a set; a component `**` matches any number of folders. A name starting with `.` is
/// matched only by a component that starts with `.`.
pub fn matches(root: &Path, pattern: &str, limit: usize) -> Vec<PathBuf> {
    let (base, rest) = match pattern.strip_prefix('/') {
        Some(rest) => (PathBuf::from("/"), rest),
        None => (root.to_path_buf(), pattern),
    };
    let components: Vec<&str> = rest.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let mut found = Vec::new();
    let mut visited = 0;
    walk(&base, &components, limit, &mut visited, &mut found);
    found
}

fn walk(folder: &Path, components: &[&str], limit: usize, visited: &mut usize, found: &mut Vec<PathBuf>) {
    if found.len() >= limit || *visited > MAX_VISITED {
        return;
    }
    let Some((first, rest)) = components.split_first() else {
        if non_empty(folder) && folder.is_file() {
            found.push(folder.to_path_buf());
        }
        return;
    };
    if *first == "**" {
        // Zero folders, then each folder below.
        walk(folder, rest, limit, visited, found);
        for (name, path) in entries(folder, visited) {
            if path.is_dir() && !name.starts_with('.') && !SKIPPED.contains(&name.as_str()) {
                walk(&path, components, limit, visited, found);
            }
        }
        return;
    }
    if !is_glob(first) {
        let next = folder.join(first);
        if rest.is_empty() || next.is_dir() {
            walk(&next, rest, limit, visited, found);
        }
        return;
    }
    for (name, path) in entries(folder, visited) {
        if name.starts_with('.') && !first.starts_with('.') {
            continue;
        }
        if component_matches(first.as_bytes(), name.as_bytes()) {
            walk(&path, rest, limit, visited, found);
        }
    }
}

fn entries(folder: &Path, visited: &mut usize) -> Vec<(String, PathBuf)> {
    let Ok(read) = std::fs::read_dir(folder) else { return Vec::new() };
    let mut list: Vec<(String, PathBuf)> = read
        .filter_map(Result::ok)
        .map(|entry| (entry.file_name().to_string_lossy().into_owned(), entry.path()))
        .collect();
    *visited += list.len();
    list.sort();
    list
}

/// Matches one path component against one pattern component (no `/` in either).
fn component_matches(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative, with one backtrack point for the last `*`: linear in practice, never exponential.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_matches(&pattern[p..], name[n]) {
                        if matched {
                            p += next;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                byte if byte == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((star_p, star_n)) => {
                p = star_p + 1;
                n = star_n + 1;
                star = Some((star_p, star_n + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// `[…]` at the start of `pattern`: whether `byte` is in the set, and the length of the class.
/// `None` when the bracket is not closed (it is then a literal `[`).
fn class_matches(pattern: &[u8], byte: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < pattern.len() {
        if pattern[i] == b']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            matched |= (pattern[i]..=pattern[i + 2]).contains(&byte);
            i += 3;
        } else {
            matched |= pattern[i] == byte;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_match_like_a_shell() {
        let yes = |p: &str, n: &str| component_matches(p.as_bytes(), n.as_bytes());
        assert!(yes("*.md", "intake.md"));
        assert!(!yes("*.md", "intake.mdx"));
        assert!(yes("a?c", "abc"));
        assert!(yes("[ab]*", "beta"));
        assert!(!yes("[!ab]*", "beta"));
        assert!(yes("[a-c]x", "bx"));
        assert!(yes("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaab"));
        assert!(!yes("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(yes("[x", "[x"));
        assert!(yes("*", ""));
    }

    #[test]
    fn globs_find_only_non_empty_files() {
        let root = std::env::temp_dir().join(format!("weft-artifacts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("docs/T-1/deep")).unwrap();
        std::fs::write(root.join("docs/T-1/empty.md"), "").unwrap();
        assert!(!present(&root, "docs/T-1/*.md"), "an empty file is missing");
        assert!(!present(&root, "docs/T-1/empty.md"));
        std::fs::write(root.join("docs/T-1/deep/plan.md"), "x").unwrap();
        assert!(!present(&root, "docs/T-1/*.md"));
        assert!(present(&root, "docs/**/*.md"));
        assert!(present(&root, "docs/T-1/deep/plan.md"));
        assert_eq!(matches(&root, "docs/**/plan.md", 10), [root.join("docs/T-1/deep/plan.md")]);
        assert!(!present(&root, "docs/T-2/**"));
        let _ = std::fs::remove_dir_all(&root);
    }
}
