//! The github format: one GitHub Actions workflow command per diagnostic, which GitHub shows as an
//! annotation on the line in the pull request.

use std::io::{self, Write};
use std::path::Path;

use super::{message_with_help, range, CheckReport};
use crate::analysis::Severity;

pub(super) fn render(report: &CheckReport, out: &mut dyn Write) -> io::Result<()> {
    for (file, diagnostic) in report.diagnostics() {
        let command = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info | Severity::Hint => "notice",
        };
        let (start, end) = range(file, diagnostic.span);
        writeln!(
            out,
            "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            escape_property(&slash_path(&file.path)),
            start.line,
            start.column,
            end.line,
            end.column,
            escape_property(&format!("weft {}", diagnostic.code.as_str())),
            escape_data(&message_with_help(diagnostic)),
        )?;
    }
    Ok(())
}

/// The path with `/` between its parts, which is what GitHub matches against the repository.
pub(super) fn slash_path(path: &Path) -> String {
    let path = path.display().to_string();
    if std::path::MAIN_SEPARATOR == '\\' {
        path.replace('\\', "/")
    } else {
        path
    }
}

/// Escapes the message of a workflow command (what follows the second `::`).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a property value of a workflow command, where `:` and `,` would end the value.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::super::{fixture, render as render_any, Format};
    use super::*;
    use crate::analysis::{Code, Diagnostic, SourceFile};
    use crate::cli::report::FileDiagnostics;
    use crate::syntax::Span;

    #[test]
    fn output() {
        insta::assert_snapshot!(fixture::render(Format::Github, false));
    }

    #[test]
    fn escapes_messages_and_properties() {
        assert_eq!(escape_data("100%: a,b\r\nc"), "100%25: a,b%0D%0Ac");
        assert_eq!(escape_property("100%: a,b\r\nc"), "100%25%3A a%2Cb%0D%0Ac");

        let file = Arc::new(SourceFile::new(PathBuf::from("odd, name: 5%.yaml"), "a: b\n".to_owned()));
        let diagnostic = Diagnostic::new(Code::Schema, Span::new(3, 4), "50% done: a, b\nnext").with_help("c: d");
        let report = CheckReport {
            files: vec![FileDiagnostics { file, diagnostics: vec![diagnostic] }],
            sources: HashMap::new(),
        };
        let mut out = Vec::new();
        render_any(&report, Format::Github, false, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "::error file=odd%2C name%3A 5%25.yaml,line=1,col=4,endLine=1,endColumn=5,title=weft schema::50%25 done: a, b%0Anext (c: d)\n"
        );
    }

    #[test]
    fn one_line_per_diagnostic_and_notices_for_info_and_hint() {
        let output = fixture::render(Format::Github, false);
        let commands: Vec<&str> = output.lines().map(|line| line.split(' ').next().unwrap()).collect();
        assert_eq!(commands, ["::notice", "::error", "::warning", "::error", "::notice", "::error"]);
    }
}
