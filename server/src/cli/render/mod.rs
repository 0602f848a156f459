//! Renderers for `weft check`: human, json, github, sarif.
//!
//! Renderers only render: every diagnostic arrives with its byte span, and the one conversion to the
//! line and column people see happens here, in [`line_column`], so the four formats always agree.

mod github;
mod human;
mod json;
mod sarif;

use std::io::{self, Write};
use std::path::Path;

use crate::analysis::{Diagnostic, Location, SourceFile};
use crate::cli::fix::FixOutcome;
use crate::cli::report::CheckReport;
use crate::syntax::{ColumnEncoding, Span};

/// How `weft check` prints what it found.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// rustc-style snippets with the offending text underlined.
    Human,
    /// One JSON object on one line.
    Json,
    /// GitHub Actions workflow commands, shown as annotations on the pull request.
    Github,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

/// Writes the whole report in `format`. `color` only affects [`Format::Human`].
pub fn render(report: &CheckReport, format: Format, color: bool, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Human => human::render(report, color, out),
        Format::Json => json::render(report, out),
        Format::Github => github::render(report, out),
        Format::Sarif => sarif::render(report, out),
    }
}

/// What `weft check --fix` changed, in the human format's style.
pub fn render_fixes(outcome: &FixOutcome, color: bool, out: &mut dyn Write) -> io::Result<()> {
    human::render_fixes(outcome, color, out)
}

/// A one-based line and column, the column counted in characters (Unicode scalar values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineColumn {
    pub line: u32,
    pub column: u32,
}

const BOM: char = '\u{feff}';

/// The length in bytes of the byte order mark the text starts with, if any.
fn bom_len(text: &str) -> usize {
    if text.starts_with(BOM) {
        BOM.len_utf8()
    } else {
        0
    }
}

/// The line and column people see for a byte offset.
///
/// A byte order mark is not counted: editors hide it (VS Code drops it before the language server
/// sees the text), so counting it would put every column of the first line one off from the editor's.
pub(crate) fn line_column(file: &SourceFile, offset: usize) -> LineColumn {
    let offset = floor_char_boundary(&file.text, offset);
    let position = file.line_index.position(offset, ColumnEncoding::Chars);
    let mut column = position.column;
    let bom = bom_len(&file.text);
    if position.line == 0 && bom > 0 && offset >= bom {
        column -= 1;
    }
    LineColumn { line: position.line + 1, column: column + 1 }
}

/// The start and end (exclusive) of a span as people see them.
pub(crate) fn range(file: &SourceFile, span: Span) -> (LineColumn, LineColumn) {
    let span = clamp_span(&file.text, span);
    (line_column(file, span.start), line_column(file, span.end))
}

/// The span cut to the text and moved onto `char` boundaries, so that a stale or foreign span can
/// never make a renderer panic.
pub(crate) fn clamp_span(text: &str, span: Span) -> Span {
    let start = floor_char_boundary(text, span.start);
    let end = floor_char_boundary(text, span.end.max(span.start));
    Span::new(start, end.max(start))
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The file a related location points into, when its text was read.
///
/// `None` in the location means the diagnostic's own file. Other files are looked up in
/// `report.sources`, and failing that among the checked files.
pub(crate) fn related_source<'a>(
    report: &'a CheckReport,
    own_file: &'a SourceFile,
    location: &Location,
) -> Option<&'a SourceFile> {
    let Some(path) = &location.file else {
        return Some(own_file);
    };
    if path == &own_file.path {
        return Some(own_file);
    }
    report
        .source(path)
        .or_else(|| report.files.iter().map(|checked| &checked.file).find(|checked| &checked.path == path))
        .map(|file| &**file)
}

/// The path a related location points into, for display when its text is not available.
pub(crate) fn related_path<'a>(own_file: &'a SourceFile, location: &'a Location) -> &'a Path {
    location.file.as_deref().unwrap_or(&own_file.path)
}

/// The message with its help appended in parentheses, for formats that have one text field.
pub(crate) fn message_with_help(diagnostic: &Diagnostic) -> String {
    match &diagnostic.help {
        Some(help) => format!("{} ({help})", diagnostic.message),
        None => diagnostic.message.clone(),
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! One hand-built report that every renderer's tests print.

    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::Arc;

    use crate::analysis::{edits, Code, Diagnostic, Edit, Fix, Location, Severity, SourceFile};
    use crate::cli::report::{CheckReport, FileDiagnostics};
    use crate::syntax::Span;

    /// A workflow with a byte order mark, CRLF line endings, emoji and CJK text and a tab.
    pub const WORKFLOW_PATH: &str = "workflows/build.yaml";
    pub const WORKFLOW: &str = "\u{feff}name: \"🦀 漢字\"\r\n\
        stages:\r\n\
        \x20 - id: build\r\n\
        \x20   depends_on: [🦀漢, biuld]\r\n\
        \x20 - id: test\r\n\
        \tdepends_on: [test]\r\n\
        \x20   timeout_sec: 9000\r\n";
    /// The project configuration: LF line endings, ends with a newline.
    pub const CONFIG_PATH: &str = "weft.yaml";
    pub const CONFIG: &str = "plugins:\n  lint:\n    command: lint.sh\n  fmt:\n    command: [\n";
    /// Read for related information only, never checked.
    pub const SHARED_PATH: &str = "workflows/shared.yaml";
    pub const SHARED: &str = "stages:\n  - id: 共有\n    depends_on: [build]\n";

    pub fn span_of(text: &str, needle: &str) -> Span {
        let start = text.find(needle).unwrap_or_else(|| panic!("{needle:?} is not in the text"));
        Span::new(start, start + needle.len())
    }

    pub fn report() -> CheckReport {
        let workflow = Arc::new(SourceFile::new(PathBuf::from(WORKFLOW_PATH), WORKFLOW.to_owned()));
        let config = Arc::new(SourceFile::new(PathBuf::from(CONFIG_PATH), CONFIG.to_owned()));
        let shared = Arc::new(SourceFile::new(PathBuf::from(SHARED_PATH), SHARED.to_owned()));

        let name = span_of(WORKFLOW, "name");
        let biuld = span_of(WORKFLOW, "biuld");
        let tab_test = Span::new(WORKFLOW.rfind("test").unwrap(), WORKFLOW.rfind("test").unwrap() + 4);
        let stage_test = Span::new(span_of(WORKFLOW, "id: test").start, span_of(WORKFLOW, "9000").end);
        // Sorted by position, as `CheckReport::files` promises.
        let workflow_diagnostics = vec![
            Diagnostic {
                severity: Severity::Info,
                ..Diagnostic::new(Code::Schema, name, "`name` is shown in the run history")
            },
            Diagnostic::new(Code::UnknownDependency, biuld, "`depends_on` names no stage `biuld`")
                .with_help("did you mean `build`?")
                .with_related(None, span_of(WORKFLOW, "build"), "`build` is declared here")
                .with_fix(Some(edits::replace(biuld, "build", "Replace with `build`").marked_safe())),
            Diagnostic::new(
                Code::TimeoutExceedsLimit,
                stage_test,
                "stage `test` may run for 9000 s, above the limit of 3600 s",
            ),
            Diagnostic::new(Code::SelfDependency, tab_test, "stage `test` depends on itself")
                .with_fix(Some(edits::replace(tab_test, "", "Remove `test` from depends_on").marked_safe())),
        ];

        let lint = span_of(CONFIG, "lint");
        let end = Span::empty(CONFIG.len());
        let config_diagnostics = vec![
            Diagnostic::new(
                Code::UnusedPlugin,
                lint,
                "plugin `lint` is used by 0% of workflows: none, at all\nremove it?",
            )
            .with_related(Some(PathBuf::from(SHARED_PATH)), span_of(SHARED, "共有"), "`共有` does not use it either")
            .with_related(Some(PathBuf::from("workflows/gone.yaml")), Span::new(10, 14), "nor does this file")
            // A fix in another file, and one in a file whose text was not read.
            .with_fix(Some(Fix {
                title: "Use `lint` in `共有`".to_owned(),
                edits: vec![Edit {
                    location: Location { file: Some(PathBuf::from(SHARED_PATH)), span: Span::empty(SHARED.len()) },
                    new_text: "    script: lint\n".to_owned(),
                }],
                safe: false,
            }))
            .with_fix(Some(Fix {
                title: "Use `lint` in gone.yaml".to_owned(),
                edits: vec![Edit {
                    location: Location { file: Some(PathBuf::from("workflows/gone.yaml")), span: Span::new(10, 14) },
                    new_text: "lint".to_owned(),
                }],
                safe: false,
            })),
            Diagnostic::new(Code::Syntax, end, "the flow sequence is not closed at the end of the file"),
        ];

        let mut sources = HashMap::new();
        for file in [&workflow, &config, &shared] {
            sources.insert(file.path.clone(), Arc::clone(file));
        }
        CheckReport {
            files: vec![
                FileDiagnostics { file: workflow, diagnostics: workflow_diagnostics },
                FileDiagnostics { file: config, diagnostics: config_diagnostics },
            ],
            sources,
        }
    }

    pub fn render(format: super::Format, color: bool) -> String {
        let mut out = Vec::new();
        super::render(&report(), format, color, &mut out).expect("writing to a Vec never fails");
        String::from_utf8(out).expect("renderers write UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::fixture::*;
    use super::*;
    use crate::analysis::Code;
    use crate::cli::report::FileDiagnostics;

    #[test]
    fn columns_count_characters_and_skip_the_byte_order_mark() {
        let report = report();
        let workflow = &report.files[0].file;
        assert_eq!(line_column(workflow, 0), LineColumn { line: 1, column: 1 });
        assert_eq!(line_column(workflow, BOM.len_utf8()), LineColumn { line: 1, column: 1 });
        assert_eq!(line_column(workflow, span_of(WORKFLOW, "\"🦀").start), LineColumn { line: 1, column: 7 });
        // Four spaces, `depends_on: [` and then `🦀漢, ` before the name: 4 + 13 + 4 characters.
        let (start, end) = range(workflow, span_of(WORKFLOW, "biuld"));
        assert_eq!(start, LineColumn { line: 4, column: 22 });
        assert_eq!(end, LineColumn { line: 4, column: 27 });
        // A span that falls inside a character is moved back onto its boundary instead of panicking.
        let crab = WORKFLOW.find('🦀').unwrap();
        assert_eq!(clamp_span(WORKFLOW, Span::new(crab + 1, crab + 2)), Span::new(crab, crab));
        assert_eq!(clamp_span(WORKFLOW, Span::new(9_000, 9_001)), Span::empty(WORKFLOW.len()));
    }

    #[test]
    fn end_of_file_after_a_final_newline_is_the_first_column_of_the_line_after() {
        let report = report();
        let config = &report.files[1].file;
        assert_eq!(line_column(config, CONFIG.len()), LineColumn { line: 6, column: 1 });
    }

    #[test]
    fn awkward_spans_render_in_every_format_without_panicking() {
        let texts = ["\u{feff}a: 1\r\nb: 2", "", "\u{feff}", "x: 🦀\r\n\r\n", "a\rb: 漢\n\tc: d"];
        for text in texts {
            let file = Arc::new(SourceFile::new(PathBuf::from("f.yaml"), text.to_owned()));
            let len = text.len();
            let spans = [
                Span::empty(0),
                Span::empty(len),
                Span::new(0, len),
                Span::new(len / 2, len),
                Span::new(1, 2),
                Span::new(len + 5, len + 9),
            ];
            let diagnostics = spans
                .iter()
                .map(|span| {
                    Diagnostic::new(Code::Schema, *span, "m").with_related(None, *span, "r").with_related(
                        Some(PathBuf::from("elsewhere.yaml")),
                        *span,
                        "gone",
                    )
                })
                .collect();
            let report = CheckReport { files: vec![FileDiagnostics { file, diagnostics }], sources: HashMap::new() };
            for format in [Format::Human, Format::Json, Format::Github, Format::Sarif] {
                let mut out = Vec::new();
                super::render(&report, format, false, &mut out).unwrap();
                let out = String::from_utf8(out).unwrap();
                if format == Format::Human {
                    assert!(!out.contains('\r') && !out.contains('\u{feff}'), "{text:?}:\n{out}");
                    assert!(out.ends_with("Found 6 errors in 1 file.\n"), "{out}");
                }
            }
        }
    }
}
