//! The one diagnostic type every check produces and every renderer renders.

use std::path::PathBuf;

use crate::syntax::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Info,
    Hint,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Hint => "hint",
        }
    }
}

/// A stable, kebab-case diagnostic code (SPEC §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    Syntax,
    Schema,
    DuplicateId,
    UnknownDependency,
    SelfDependency,
    Cycle,
    MissingPlugin,
    UnknownHook,
    InvalidExpression,
    UnprovidedResource,
    InvalidInput,
    UnknownPlaceholder,
    UnknownFile,
    UnreachableFallback,
    TimeoutExceedsLimit,
    UnusedExecutorOptions,
    UnusedPlugin,
}

impl Code {
    pub const ALL: [Code; 17] = [
        Code::Syntax,
        Code::Schema,
        Code::DuplicateId,
        Code::UnknownDependency,
        Code::SelfDependency,
        Code::Cycle,
        Code::MissingPlugin,
        Code::UnknownHook,
        Code::InvalidExpression,
        Code::UnprovidedResource,
        Code::InvalidInput,
        Code::UnknownPlaceholder,
        Code::UnknownFile,
        Code::UnreachableFallback,
        Code::TimeoutExceedsLimit,
        Code::UnusedExecutorOptions,
        Code::UnusedPlugin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "syntax",
            Code::Schema => "schema",
            Code::DuplicateId => "duplicate-id",
            Code::UnknownDependency => "unknown-dependency",
            Code::SelfDependency => "self-dependency",
            Code::Cycle => "cycle",
            Code::MissingPlugin => "missing-plugin",
            Code::UnknownHook => "unknown-hook",
            Code::InvalidExpression => "invalid-expression",
            Code::UnprovidedResource => "unprovided-resource",
            Code::InvalidInput => "invalid-input",
            Code::UnknownPlaceholder => "unknown-placeholder",
            Code::UnknownFile => "unknown-file",
            Code::UnreachableFallback => "unreachable-fallback",
            Code::TimeoutExceedsLimit => "timeout-exceeds-limit",
            Code::UnusedExecutorOptions => "unused-executor-options",
            Code::UnusedPlugin => "unused-plugin",
        }
    }

    pub fn parse(code: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|candidate| candidate.as_str() == code)
    }

    pub fn severity(self) -> Severity {
        match self {
            Code::UnreachableFallback | Code::TimeoutExceedsLimit | Code::UnusedExecutorOptions => Severity::Warning,
            Code::UnusedPlugin => Severity::Hint,
            _ => Severity::Error,
        }
    }

    /// One line on what the code means, for SARIF rules and documentation.
    pub fn summary(self) -> &'static str {
        match self {
            Code::Syntax => "YAML or JSON that does not parse",
            Code::Schema => "A value that breaks the schema: wrong type, unknown key, missing required key, bad enum",
            Code::DuplicateId => "Two stages, steps or phases with one id",
            Code::UnknownDependency => "`depends_on` or `fallback` names no stage",
            Code::SelfDependency => "A stage depends on itself",
            Code::Cycle => "A dependency cycle",
            Code::MissingPlugin => "`script` names no plugin in weft.yaml",
            Code::UnknownHook => "A hook point that does not exist",
            Code::InvalidExpression => "An expression that does not parse or names what does not exist",
            Code::UnprovidedResource => "`consumes` a key that no upstream step `provides`",
            Code::InvalidInput => "`with:` breaks the plugin's `inputs` schema",
            Code::UnknownPlaceholder => "A `{…}` placeholder other than `{task}` in a phase template",
            Code::UnknownFile => "A phase's `workflow` names a file that does not exist or is not a workflow or plan",
            Code::UnreachableFallback => "A fallback that is also a dependency or creates a cycle",
            Code::TimeoutExceedsLimit => "`timeout_sec` above `max_step_duration_sec`",
            Code::UnusedExecutorOptions => "`executor_options` that no step uses: the steps they apply to run locally",
            Code::UnusedPlugin => "A plugin that no workflow uses",
        }
    }
}

/// A place in a file: `file` is `None` for the file the diagnostic belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: Option<PathBuf>,
    pub span: Span,
}

/// Related information: another place that explains the diagnostic (each edge of a cycle, the first
/// of two duplicate ids).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    pub location: Location,
    pub message: String,
}

/// A text edit; `location.file` is `None` for the diagnostic's own file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub location: Location,
    pub new_text: String,
}

/// A quick fix: a titled set of edits, possibly across files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<Edit>,
    /// The fix has one meaning and can be applied without a person choosing it (`weft check --fix`
    /// applies it): a misspelt id with exactly one close match, a self-dependency removed. A fix that
    /// is one of several candidates, or that adds text of its own (a plugin stub), is not safe.
    pub safe: bool,
}

impl Fix {
    /// The same fix, marked safe to apply unasked (see [`Fix::safe`]).
    pub fn marked_safe(mut self) -> Fix {
        self.safe = true;
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    pub related: Vec<Related>,
    /// A hint on what to do, shown under the message ("did you mean `build`?").
    pub help: Option<String>,
    /// Quick fixes, the most likely first.
    pub fixes: Vec<Fix>,
}

impl Diagnostic {
    /// A diagnostic with the code's own severity.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            span,
            related: Vec::new(),
            help: None,
            fixes: Vec::new(),
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_related(mut self, file: Option<PathBuf>, span: Span, message: impl Into<String>) -> Diagnostic {
        self.related.push(Related { location: Location { file, span }, message: message.into() });
        self
    }

    pub fn with_fix(mut self, fix: Option<Fix>) -> Diagnostic {
        self.fixes.extend(fix);
        self
    }
}
