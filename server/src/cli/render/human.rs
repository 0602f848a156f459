//! The human format: rustc-style snippets with the offending text underlined, then a summary line.

use std::io::{self, Write};
use std::ops::Range;

use annotate_snippets::{normalize_untrusted_str, AnnotationKind, Group, Level, Renderer, Snippet};

use super::{bom_len, clamp_span, related_path, related_source, CheckReport};
use crate::analysis::{Diagnostic, Severity, SourceFile};
use crate::cli::fix::FixOutcome;
use crate::syntax::{ColumnEncoding, Span};

pub(super) fn render(report: &CheckReport, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    let mut counts = Counts::default();
    for (file, diagnostic) in report.diagnostics() {
        counts.add(diagnostic.severity);
        writeln!(out, "{}\n", render_diagnostic(&renderer, report, file, diagnostic))?;
    }
    writeln!(out, "{}", summary(&counts, report.files.len()))
}

/// What `weft check --fix` changed, one line per place, then a summary line:
///
/// ```text
/// fixed[unknown-dependency]: a.workflow.yaml:4: `depends_on: [biuld]` → `depends_on: [build]`
/// Applied 1 fix in 1 file.
/// ```
///
/// Notes on safe fixes held back follow the summary. Nothing at all when nothing was to be done.
pub(crate) fn render_fixes(outcome: &FixOutcome, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let (bold_green, bold, reset) = if color { ("\x1b[1;32m", "\x1b[1m", "\x1b[0m") } else { ("", "", "") };
    for change in &outcome.changes {
        let codes: Vec<&str> = change.codes.iter().map(|code| code.as_str()).collect();
        let new = if change.new.is_empty() { "(removed)".to_owned() } else { format!("`{}`", change.new) };
        writeln!(
            out,
            "{bold_green}fixed{reset}{bold}[{}]{reset}: {}:{}: `{}` → {new}",
            codes.join(", "),
            change.file.display(),
            change.line,
            change.old,
        )?;
    }
    if !outcome.changes.is_empty() {
        let fixes = plural_form(outcome.fixes(), "fix", "fixes");
        let files = plural_form(outcome.files_changed(), "file", "files");
        writeln!(out, "Applied {fixes} in {files}.\n")?;
    }
    for note in &outcome.held_back {
        writeln!(out, "{bold}note{reset}: {note}")?;
    }
    if !outcome.held_back.is_empty() {
        writeln!(out)?;
    }
    Ok(())
}

fn render_diagnostic(renderer: &Renderer, report: &CheckReport, file: &SourceFile, diagnostic: &Diagnostic) -> String {
    let path = file.path.display().to_string();
    let excerpt = Excerpt::new(file, diagnostic.span);
    let snippet = Snippet::source(excerpt.text.as_str())
        .line_start(excerpt.first_line)
        .path(path.as_str())
        .annotation(AnnotationKind::Primary.span(excerpt.span.clone()));
    let mut primary = level(diagnostic.severity)
        .primary_title(diagnostic.message.as_str())
        .id(diagnostic.code.as_str())
        .element(snippet);
    if let Some(help) = &diagnostic.help {
        primary = primary.element(Level::HELP.message(normalize_untrusted_str(help)));
    }

    // Related places whose text was read become annotated snippets of their own; the others can only
    // be named.
    let mut related_snippets = Vec::new();
    for related in &diagnostic.related {
        let message = normalize_untrusted_str(&related.message);
        match related_source(report, file, &related.location) {
            Some(source) => {
                let excerpt = Excerpt::new(source, related.location.span);
                related_snippets.push((source.path.display().to_string(), excerpt, message));
            }
            None => {
                let path = related_path(file, &related.location).display();
                primary = primary.element(Level::NOTE.message(format!("{message} at {path}")));
            }
        }
    }
    let mut groups = vec![primary];
    for (path, excerpt, message) in &related_snippets {
        let snippet = Snippet::source(excerpt.text.as_str())
            .line_start(excerpt.first_line)
            .path(path.as_str())
            .annotation(AnnotationKind::Primary.span(excerpt.span.clone()));
        groups.push(Group::with_title(Level::NOTE.secondary_title(message.as_str())).element(snippet));
    }
    renderer.render(&groups)
}

fn level(severity: Severity) -> Level<'static> {
    match severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Info => Level::INFO,
        Severity::Hint => Level::HELP.with_name("hint"),
    }
}

/// The lines a span touches, cleaned for display, with the span moved into them.
///
/// Only these lines are handed to annotate-snippets, so a diagnostic costs the size of its lines and
/// not of its file, and the text can be cleaned first: the byte order mark is dropped (it is not
/// counted in columns either, see [`super::line_column`]) and line terminators become a single `\n`,
/// so no `\r` ever reaches the terminal.
struct Excerpt {
    text: String,
    /// The one-based number of the excerpt's first line in the file.
    first_line: usize,
    /// The span in bytes of `text`.
    span: Range<usize>,
}

impl Excerpt {
    fn new(file: &SourceFile, span: Span) -> Excerpt {
        let text = &file.text;
        let span = clamp_span(text, span);
        let start = file.line_index.position(span.start, ColumnEncoding::Utf8);
        let end = file.line_index.position(span.end, ColumnEncoding::Utf8);
        // A span that runs up to the start of a line (it takes in a line break) is drawn up to the end
        // of the line before: underlining nothing on an extra line says nothing.
        let (end_line, end_offset) = if end.line > start.line && end.column == 0 {
            let line_before = line_without_terminator(file, end.line - 1);
            (end.line - 1, line_before.end)
        } else {
            (end.line, span.end)
        };

        let mut excerpt = String::new();
        let mut excerpt_span = 0..0;
        for line in start.line..=end_line {
            let mut line_span = line_without_terminator(file, line);
            if line == 0 {
                line_span.start = (line_span.start + bom_len(text)).min(line_span.end);
            }
            if line > start.line {
                excerpt.push('\n');
            }
            // Offsets inside a dropped byte order mark or line terminator move to the nearest kept byte.
            let base = excerpt.len();
            let in_excerpt = |offset: usize| base + offset.clamp(line_span.start, line_span.end) - line_span.start;
            if line == start.line {
                excerpt_span.start = in_excerpt(span.start);
            }
            if line == end_line {
                excerpt_span.end = in_excerpt(end_offset);
            }
            excerpt.push_str(&text[line_span.start..line_span.end]);
        }
        Excerpt { text: excerpt, first_line: start.line as usize + 1, span: excerpt_span }
    }
}

fn line_without_terminator(file: &SourceFile, line: u32) -> Span {
    file.line_index.line_span(line, &file.text).unwrap_or(Span::empty(file.text.len()))
}

#[derive(Default)]
struct Counts {
    errors: usize,
    warnings: usize,
    infos: usize,
    hints: usize,
}

impl Counts {
    fn add(&mut self, severity: Severity) {
        match severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Info => self.infos += 1,
            Severity::Hint => self.hints += 1,
        }
    }
}

/// `Found 3 errors, 1 warning and 2 hints in 4 files.` or `No problems found in 1 file.`
fn summary(counts: &Counts, files: usize) -> String {
    let kinds: Vec<String> = [
        (counts.errors, "error", "errors"),
        (counts.warnings, "warning", "warnings"),
        (counts.infos, "info", "infos"),
        (counts.hints, "hint", "hints"),
    ]
    .into_iter()
    .filter(|(count, _, _)| *count > 0)
    .map(|(count, singular, plural)| plural_form(count, singular, plural))
    .collect();
    let files = plural_form(files, "file", "files");
    match kinds.split_last() {
        None => format!("No problems found in {files}."),
        Some((last, [])) => format!("Found {last} in {files}."),
        Some((last, rest)) => format!("Found {} and {last} in {files}.", rest.join(", ")),
    }
}

fn plural_form(count: usize, singular: &str, plural: &str) -> String {
    format!("{count} {}", if count == 1 { singular } else { plural })
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::super::{line_column, Format};
    use super::*;

    #[test]
    fn plain_output() {
        let output = fixture::render(Format::Human, false);
        assert!(!output.contains('\r'), "a carriage return reached the output");
        assert!(!output.contains('\u{1b}'), "plain output has an escape sequence");
        assert!(!output.contains('\u{feff}'), "the byte order mark reached the output");
        insta::assert_snapshot!(output);
    }

    #[test]
    fn coloured_output_has_escape_sequences_but_no_carriage_return() {
        let output = fixture::render(Format::Human, true);
        assert!(output.contains("\u{1b}["));
        assert!(!output.contains('\r'));
    }

    #[test]
    fn locations_agree_with_the_other_formats() {
        let report = fixture::report();
        let output = fixture::render(Format::Human, false);
        for (file, diagnostic) in report.diagnostics() {
            let start = line_column(file, diagnostic.span.start);
            let location = format!("--> {}:{}:{}\n", file.path.display(), start.line, start.column);
            assert!(output.contains(&location), "{location:?} is missing from\n{output}");
        }
    }

    #[test]
    fn summary_counts_with_plurals_and_without_empty_kinds() {
        let counts = |errors, warnings, infos, hints| Counts { errors, warnings, infos, hints };
        assert_eq!(summary(&counts(3, 1, 0, 2), 4), "Found 3 errors, 1 warning and 2 hints in 4 files.");
        assert_eq!(summary(&counts(1, 0, 0, 0), 1), "Found 1 error in 1 file.");
        assert_eq!(summary(&counts(0, 2, 1, 0), 2), "Found 2 warnings and 1 info in 2 files.");
        assert_eq!(summary(&counts(0, 0, 0, 0), 4), "No problems found in 4 files.");
        assert_eq!(summary(&counts(0, 0, 0, 0), 1), "No problems found in 1 file.");
    }

    #[test]
    fn a_span_ending_at_a_line_start_is_drawn_to_the_end_of_the_line_before() {
        let file = SourceFile::new("a.yaml".into(), "a: 1\r\nb: 2\r\n".to_owned());
        let excerpt = Excerpt::new(&file, Span::new(0, 6));
        assert_eq!((excerpt.text.as_str(), excerpt.first_line, excerpt.span), ("a: 1", 1, 0..4));
        let excerpt = Excerpt::new(&file, Span::empty(file.text.len()));
        assert_eq!((excerpt.text.as_str(), excerpt.first_line, excerpt.span), ("", 3, 0..0));
    }
}
