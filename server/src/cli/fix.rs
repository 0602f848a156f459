//! `weft check --fix`: apply the safe quick fixes (SPEC §10) to the checked files and say what
//! changed.
//!
//! Only fixes that the analysis marks safe are applied ([`Fix::safe`]: a misspelt id with exactly
//! one close match, a self-dependency removed), and only those whose edits are all in the file the
//! diagnostic is about. A file with syntax errors is left alone: what the parser lost may be what
//! the fix depends on.
//!
//! Fixes are applied in passes. In a pass, each file's fixes are taken in order of position, a fix
//! whose edits overlap one already taken waits for the next pass, and the edits are applied
//! from the end of the file so that the offsets of the others stay valid. The file is then checked
//! again: a pass must not add an error of a code the file did not have as many of before (replacing
//! a typo can close a dependency cycle), and when it does, its fixes are tried one at a time and only
//! those that add nothing are kept. Passes go on until one changes nothing, and the file is written
//! once, after them, so that a second `weft check --fix` finds nothing to do.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::analysis::{Code, Diagnostic, Fix, Severity};
use crate::syntax::Span;

use super::check::Loaded;
use super::files::FoundFile;
use super::render::line_column;

/// Passes stop here even if fixes are left, so that two fixes undoing each other cannot loop.
const MAX_PASSES: usize = 10;

/// Characters of context shown on each side of a change on a long line.
const CONTEXT_CHARS: usize = 30;

/// What `--fix` did, in the order it did it.
#[derive(Debug, Default)]
pub struct FixOutcome {
    pub changes: Vec<Change>,
    /// Safe fixes that were not applied because they would have added an error, as notes.
    pub held_back: Vec<String>,
    /// Files that could not be written.
    pub errors: Vec<String>,
}

/// One changed place of a file: the text around it before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The file as the user named it.
    pub file: PathBuf,
    /// The one-based line of the change, in the file as it was before it.
    pub line: u32,
    /// The codes of the diagnostics fixed here, in order, without repeats.
    pub codes: Vec<Code>,
    /// How many fixes were applied here (two typos on one line are two).
    pub fixes: usize,
    pub old: String,
    pub new: String,
}

impl FixOutcome {
    /// How many fixes were applied.
    pub fn fixes(&self) -> usize {
        self.changes.iter().map(|change| change.fixes).sum()
    }

    /// How many files were changed.
    pub fn files_changed(&self) -> usize {
        let mut files: Vec<&PathBuf> = self.changes.iter().map(|change| &change.file).collect();
        files.sort();
        files.dedup();
        files.len()
    }
}

/// Applies the safe fixes of every checked file, writes the files that changed, and leaves the
/// workspace holding their new text, so that the report made from it afterwards is of the fixed
/// files. A file's fixes never touch another file, so each file is fixed on its own.
pub fn apply_safe_fixes(loaded: &mut Loaded) -> FixOutcome {
    let mut outcome = FixOutcome::default();
    for target in loaded.targets.clone() {
        let Some(document) = loaded.workspace.document(&target.key) else { continue };
        let original = document.source.text.clone();
        let mut changes = Vec::new();
        let mut held_back = Vec::new();
        for _ in 0..MAX_PASSES {
            // The notes of the last pass are about the fixes that are still left.
            held_back.clear();
            match fix_file(loaded, &target, &mut held_back) {
                Some(pass_changes) => changes.extend(pass_changes),
                None => break,
            }
        }
        outcome.held_back.extend(held_back);
        if changes.is_empty() {
            continue;
        }
        let Some(fixed) = loaded.workspace.document(&target.key).map(|document| document.source.text.clone()) else {
            continue;
        };
        if let Err(error) = std::fs::write(&target.key, &fixed) {
            outcome.errors.push(format!("{}: cannot write the fixed file: {error}", target.display.display()));
            loaded.workspace.set(target.key.clone(), target.display.clone(), original);
            continue;
        }
        outcome.changes.extend(changes);
    }
    outcome
}

/// A fix taken for a pass, with the code of the diagnostic it fixes.
struct Candidate<'a> {
    code: Code,
    fix: &'a Fix,
}

impl Candidate<'_> {
    fn spans(&self) -> impl Iterator<Item = Span> + '_ {
        self.fix.edits.iter().map(|edit| edit.location.span)
    }

    fn start(&self) -> usize {
        self.spans().map(|span| span.start).min().unwrap_or(0)
    }
}

/// Applies one pass of fixes to one file in the workspace and says what changed; `None` when
/// nothing was applied.
fn fix_file(loaded: &mut Loaded, target: &FoundFile, held_back: &mut Vec<String>) -> Option<Vec<Change>> {
    let document = loaded.workspace.document(&target.key)?.clone();
    let original = document.source.text.clone();
    let diagnostics = loaded.workspace.check(&target.key);
    let own_file = &document.source.path;
    let mut candidates: Vec<Candidate> = diagnostics
        .iter()
        .filter_map(|diagnostic| {
            // The first safe fix of a diagnostic; a diagnostic has at most one in practice.
            let fix = diagnostic.fixes.iter().find(|fix| {
                fix.safe
                    && !fix.edits.is_empty()
                    && fix.edits.iter().all(|edit| edit.location.file.as_ref().is_none_or(|file| file == own_file))
                    && fix.edits.iter().all(|edit| edit.location.span.end <= original.len())
            })?;
            Some(Candidate { code: diagnostic.code, fix })
        })
        .collect();
    if candidates.is_empty() {
        return None;
    }
    if diagnostics.iter().any(|diagnostic| diagnostic.code == Code::Syntax) {
        held_back.push(format!("{}: not fixed: the file has syntax errors", target.display.display()));
        return None;
    }
    candidates.sort_by_key(Candidate::start);
    // Fixes that overlap one taken before them wait for the next pass, when they are
    // found again on the changed text (or are no longer needed).
    let mut taken: Vec<Candidate> = Vec::new();
    for candidate in candidates {
        let clashes = taken.iter().flat_map(Candidate::spans).any(|a| candidate.spans().any(|b| touch(a, b)));
        if !clashes {
            taken.push(candidate);
        }
    }
    if taken.is_empty() {
        return None;
    }

    let before = error_counts(&diagnostics);
    let all = apply(&original, taken.iter());
    let kept: Vec<&Candidate> = if added_errors(loaded, target, &all, &before).is_empty() {
        taken.iter().collect()
    } else {
        // One at a time, from the end, each on the text with the ones kept so far.
        let mut kept = Vec::new();
        let mut notes = Vec::new();
        for candidate in taken.iter().rev() {
            let mut trial: Vec<&Candidate> = kept.clone();
            trial.push(candidate);
            let text = apply(&original, trial.iter().copied());
            let added = added_errors(loaded, target, &text, &before);
            if added.is_empty() {
                kept.push(candidate);
            } else {
                let change = describe(&document.source, &target.display, &[candidate]);
                let added: Vec<String> = added.iter().map(|code| format!("`{}`", code.as_str())).collect();
                let added = match added.as_slice() {
                    [one] => format!("a {one} error"),
                    many => format!("{} errors", many.join(", ")),
                };
                notes.push(format!(
                    "{}:{}: not fixed: `{}` → `{}` would add {added}",
                    change.file.display(),
                    change.line,
                    change.old,
                    change.new,
                ));
            }
        }
        kept.reverse();
        held_back.extend(notes.into_iter().rev());
        kept
    };
    let text = apply(&original, kept.iter().copied());
    if kept.is_empty() || text == original {
        loaded.workspace.set(target.key.clone(), target.display.clone(), original);
        return None;
    }
    let changes = group_by_place(&original, &kept)
        .into_iter()
        .map(|group| describe(&document.source, &target.display, &group))
        .collect();
    // The last check usually had this text already; parsing it again would only cost time.
    if loaded.workspace.document(&target.key).is_none_or(|document| document.source.text != text) {
        loaded.workspace.set(target.key.clone(), target.display.clone(), text);
    }
    Some(changes)
}

/// The codes of which the workspace, given `text` for the file, finds more errors than `before`,
/// in code order. Leaves `text` in the workspace.
fn added_errors(loaded: &mut Loaded, target: &FoundFile, text: &str, before: &HashMap<Code, usize>) -> Vec<Code> {
    loaded.workspace.set(target.key.clone(), target.display.clone(), text.to_owned());
    let after = error_counts(&loaded.workspace.check(&target.key));
    let mut added: Vec<Code> = after
        .into_iter()
        .filter(|(code, count)| count > before.get(code).unwrap_or(&0))
        .map(|(code, _)| code)
        .collect();
    added.sort();
    added
}

fn error_counts(diagnostics: &[Diagnostic]) -> HashMap<Code, usize> {
    let mut counts = HashMap::new();
    for diagnostic in diagnostics.iter().filter(|diagnostic| diagnostic.severity == Severity::Error) {
        *counts.entry(diagnostic.code).or_default() += 1;
    }
    counts
}

/// Two edits that overlap, or meet so that the order of applying them would matter: an insertion
/// (an empty span) at the same place as another edit or inside it. Two replacements that only meet
/// end to start are independent.
fn touch(a: Span, b: Span) -> bool {
    let overlap = a.start < b.end && b.start < a.end;
    let inserts_into =
        |point: Span, other: Span| point.is_empty() && other.start <= point.start && point.start <= other.end;
    overlap || inserts_into(a, b) || inserts_into(b, a)
}

/// The text with the edits of `fixes` applied, the last first so the offsets of the others hold.
/// The fixes' edits neither overlap nor touch.
fn apply<'a, 'b: 'a>(text: &str, fixes: impl Iterator<Item = &'a Candidate<'b>>) -> String {
    let mut edits: Vec<(Span, &str)> = fixes
        .flat_map(|candidate| candidate.fix.edits.iter().map(|edit| (edit.location.span, edit.new_text.as_str())))
        .collect();
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut text = text.to_owned();
    for (span, new_text) in edits {
        text.replace_range(span.start..span.end, new_text);
    }
    text
}

/// Fixes on one line near each other are shown as one change.
fn group_by_place<'a, 'b>(text: &str, fixes: &[&'a Candidate<'b>]) -> Vec<Vec<&'a Candidate<'b>>> {
    let mut sorted = fixes.to_vec();
    sorted.sort_by_key(|candidate| candidate.start());
    let mut groups: Vec<Vec<&Candidate>> = Vec::new();
    for candidate in sorted {
        // Joined when on the line where the previous one starts, and near it.
        let joins = groups.last().and_then(|group| group.last()).is_some_and(|previous| {
            let previous_end = previous.spans().map(|span| span.end).max().unwrap_or(0);
            let start = candidate.start();
            start >= previous_end
                && !text[previous.start()..start].contains('\n')
                && text[previous_end..start].chars().count() <= CONTEXT_CHARS
        });
        match groups.last_mut() {
            Some(group) if joins => group.push(candidate),
            _ => groups.push(vec![candidate]),
        }
    }
    groups
}

/// The text around a group of fixes before and after them: the line, or on a long line the
/// changed part with some characters of context, cut marks showing where it was cut.
fn describe(source: &crate::analysis::SourceFile, display: &std::path::Path, group: &[&Candidate]) -> Change {
    let text = source.text.as_str();
    let start = group.iter().map(|candidate| candidate.start()).min().unwrap_or(0);
    let end = group.iter().flat_map(|candidate| candidate.spans()).map(|span| span.end).max().unwrap_or(start);
    // An edit that takes a whole line with its line break (a block list item) is shown on its line.
    let end_of_shown = if end > start && text[..end].ends_with('\n') { end - 1 } else { end };
    let line_start = text[..start].rfind('\n').map_or(0, |newline| newline + 1);
    let line_end = text[end_of_shown..].find(['\n', '\r']).map_or(text.len(), |at| end_of_shown + at);
    let window_start = back_chars(text, start, CONTEXT_CHARS).max(line_start);
    let window_end = forward_chars(text, end_of_shown, CONTEXT_CHARS).min(line_end).max(end_of_shown);
    let region = window_start..window_end.max(end);
    let before = &text[region.clone()];
    let mut after = before.to_owned();
    let mut edits: Vec<(Span, &str)> = group
        .iter()
        .flat_map(|candidate| candidate.fix.edits.iter().map(|edit| (edit.location.span, edit.new_text.as_str())))
        .collect();
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    for (span, new_text) in edits {
        after.replace_range(span.start - region.start..span.end - region.start, new_text);
    }
    let shown = |part: &str| -> String {
        let part = one_line(part.trim_matches(|c: char| c.is_whitespace()));
        let open = if window_start > line_start { "…" } else { "" };
        let close = if window_end < line_end { "…" } else { "" };
        if part.is_empty() {
            String::new()
        } else {
            format!("{open}{part}{close}")
        }
    };
    let mut codes: Vec<Code> = Vec::new();
    for candidate in group {
        if !codes.contains(&candidate.code) {
            codes.push(candidate.code);
        }
    }
    Change {
        file: display.to_path_buf(),
        line: line_column(source, start).line,
        codes,
        fixes: group.len(),
        old: shown(before),
        new: shown(&after),
    }
}

/// Line breaks inside a change (a fix that spans lines) shown as `⏎`.
fn one_line(text: &str) -> String {
    text.replace("\r\n", "⏎").replace(['\n', '\r'], "⏎")
}

fn back_chars(text: &str, offset: usize, chars: usize) -> usize {
    text[..offset].char_indices().rev().take(chars).last().map_or(offset, |(at, _)| at)
}

fn forward_chars(text: &str, offset: usize, chars: usize) -> usize {
    text[offset..].char_indices().nth(chars).map_or(text.len(), |(at, _)| offset + at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{edits, SourceFile};

    fn candidate(fix: &Fix) -> Candidate<'_> {
        Candidate { code: Code::UnknownDependency, fix }
    }

    #[test]
    fn edits_apply_from_the_end_and_changes_show_their_line() {
        let text = "    depends_on: [biuld, tset]\n";
        let at = |needle: &str| {
            let start = text.find(needle).unwrap();
            Span::new(start, start + needle.len())
        };
        let build = edits::replace(at("biuld"), "build", "Replace with `build`");
        let test = edits::replace(at("tset"), "test", "Replace with `test`");
        let fixes = [candidate(&build), candidate(&test)];
        assert_eq!(apply(text, fixes.iter()), "    depends_on: [build, test]\n");
        let source = SourceFile::new("a.yaml".into(), text.to_owned());
        let groups = group_by_place(text, &fixes.iter().collect::<Vec<_>>());
        assert_eq!(groups.len(), 1, "near each other on one line");
        let change = describe(&source, std::path::Path::new("a.yaml"), &groups[0]);
        assert_eq!(
            (change.line, change.old.as_str(), change.new.as_str()),
            (1, "depends_on: [biuld, tset]", "depends_on: [build, test]")
        );
    }

    #[test]
    fn a_removed_block_item_is_shown_on_its_line_and_a_long_line_is_cut() {
        let text = "a:\n  - x\n  - y\n";
        let start = text.find("  - x").unwrap();
        let remove = edits::replace(Span::new(start, start + "  - x\n".len()), "", "Remove `x`");
        let source = SourceFile::new("a.yaml".into(), text.to_owned());
        let change = describe(&source, std::path::Path::new("a.yaml"), &[&candidate(&remove)]);
        assert_eq!((change.line, change.old.as_str(), change.new.as_str()), (2, "- x", ""));

        let long = format!("{{\"steps\": [{}{{\"id\": \"b\", \"depends_on\": [\"biuld\"]}}]}}", "x".repeat(200));
        let start = long.find("biuld").unwrap();
        let fix = edits::replace(Span::new(start, start + 5), "build", "Replace with `build`");
        let source = SourceFile::new("a.json".into(), long.clone());
        let change = describe(&source, std::path::Path::new("a.json"), &[&candidate(&fix)]);
        assert!(change.old.starts_with('…') && change.old.ends_with("\"biuld\"]}]}"), "{}", change.old);
        assert!(change.new.contains("\"build\""), "{}", change.new);
        assert!(change.old.chars().count() < 80, "{}", change.old);
    }

    #[test]
    fn overlapping_edits_and_insertions_where_another_edit_is_clash() {
        assert!(touch(Span::new(0, 5), Span::new(4, 6)));
        assert!(touch(Span::new(2, 3), Span::new(0, 9)));
        assert!(touch(Span::empty(3), Span::empty(3)));
        assert!(touch(Span::empty(4), Span::new(0, 4)));
        assert!(touch(Span::new(4, 6), Span::empty(4)));
        assert!(!touch(Span::new(0, 4), Span::new(4, 6)));
        assert!(!touch(Span::new(0, 4), Span::new(5, 6)));
        assert!(!touch(Span::empty(5), Span::new(0, 4)));
    }
}
