//! The expression language of SPEC §5, used by `condition`, `skip_if` and hook `when`.
//!
//! The language is deliberately tiny so that an expression can be checked while the user types and
//! evaluated by the engine without touching the host: literals (strings, numbers, booleans, `null`,
//! lists), paths (`steps.build.status`, `steps['a.b'].outputs.version`), the operators
//! `|| && == != < <= > >= in !` and parentheses. There are no calls and no arithmetic.
//!
//! [`parse`] turns source text into an [`Expr`] whose every node carries a byte [`Span`] into that text,
//! so diagnostics can point inside the string; [`evaluate`] computes its [`Value`] against a [`Scope`].
//! The parser bounds the size of the tree it returns (see [`MAX_NESTING`] and [`MAX_OPERATORS`]), so
//! no input can make parsing, printing, walking, evaluating or dropping a tree overflow the stack.

use std::fmt;

use crate::syntax::Span;

mod eval;
mod parse;

pub use eval::{evaluate, is_truthy, EvalError, Scope, Value};
pub use parse::parse;

/// How deeply brackets (`(`, `[`) and `!` may nest. Real conditions use a handful of levels; the
/// limit keeps the recursive-descent parser, and every recursive walk over the tree, far from the
/// stack limit.
pub const MAX_NESTING: usize = 64;

/// How many binary operators one expression may hold. A chain such as `a && b && c …` builds a tree
/// as deep as it is long, so the chain length is bounded as well as the bracket depth.
pub const MAX_OPERATORS: usize = 256;

/// A parsed expression: one node of the tree and the source it covers.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    /// Byte range in the expression's source. A parenthesised expression includes its parentheses.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
    List(Vec<Expr>),
    /// `steps.build.status`: never empty; the first segment is an identifier.
    Path(Vec<Segment>),
    Not(Box<Expr>),
    Binary {
        op: BinaryOp,
        op_span: Span,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

/// One part of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The name with quotes and escapes removed.
    pub name: String,
    /// The segment's text; for a bracket segment (`['a.b']`) the quoted string, quotes included.
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

/// Why an expression does not parse, with the exact range to underline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub message: String,
    pub span: Span,
}

impl BinaryOp {
    /// The operator as it is written.
    pub fn as_str(&self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
        }
    }

    /// True for the operators that compare two values rather than combine two conditions.
    pub fn is_comparison(&self) -> bool {
        !matches!(self, BinaryOp::Or | BinaryOp::And)
    }
}

impl Expr {
    /// Every node of the tree, parents before children and children in source order.
    ///
    /// The walk keeps its own stack, so it is safe on any tree, however it was built.
    pub fn walk(&self) -> impl Iterator<Item = &Expr> + '_ {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let expr = stack.pop()?;
            match &expr.kind {
                ExprKind::List(items) => stack.extend(items.iter().rev()),
                ExprKind::Not(operand) => stack.push(operand),
                ExprKind::Binary { lhs, rhs, .. } => {
                    stack.push(rhs);
                    stack.push(lhs);
                }
                ExprKind::String(_) | ExprKind::Number(_) | ExprKind::Bool(_) | ExprKind::Null | ExprKind::Path(_) => {}
            }
            Some(expr)
        })
    }

    /// Every path in the expression, in source order.
    pub fn paths(&self) -> Vec<&[Segment]> {
        self.walk()
            .filter_map(|expr| match &expr.kind {
                ExprKind::Path(segments) => Some(segments.as_slice()),
                _ => None,
            })
            .collect()
    }

    /// Every comparison of a path with string literals, as `(path, literals)`, so the checker can
    /// validate the literals against what the path can hold (status names, for instance).
    ///
    /// Included are `path == 'x'`, `'x' == path`, the same with `!=`, and `path in ['x', 'y']` (the
    /// string elements of the list). Left out are ordering comparisons and `path in 'text'`, which is
    /// a substring test: there the literal is not meant to be a value the path takes.
    pub fn compared_literals(&self) -> Vec<(&[Segment], Vec<&Expr>)> {
        self.walk()
            .filter_map(|expr| {
                let ExprKind::Binary { op, lhs, rhs, .. } = &expr.kind else {
                    return None;
                };
                let (path, other) = match (op, &lhs.kind, &rhs.kind) {
                    (BinaryOp::Eq | BinaryOp::Ne, ExprKind::Path(path), _) => (path, rhs),
                    (BinaryOp::Eq | BinaryOp::Ne, _, ExprKind::Path(path)) => (path, lhs),
                    (BinaryOp::In, ExprKind::Path(path), ExprKind::List(_)) => (path, rhs),
                    _ => return None,
                };
                let literals: Vec<&Expr> = match &other.kind {
                    ExprKind::String(_) => vec![other.as_ref()],
                    ExprKind::List(items) => {
                        items.iter().filter(|item| matches!(item.kind, ExprKind::String(_))).collect()
                    }
                    _ => Vec::new(),
                };
                (!literals.is_empty()).then_some((path.as_slice(), literals))
            })
            .collect()
    }
}

/// Prints a compact canonical form that parses back to the same tree: strings in single quotes,
/// every binary operation in parentheses (`(steps.a.status == 'succeeded')`), lists as `[a, b]`.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::String(text) => write_quoted(f, text),
            ExprKind::Number(number) => write!(f, "{number}"),
            ExprKind::Bool(value) => write!(f, "{value}"),
            ExprKind::Null => f.write_str("null"),
            ExprKind::List(items) => write_list(f, items),
            ExprKind::Path(segments) => write_path(f, segments),
            ExprKind::Not(operand) => write!(f, "!{operand}"),
            ExprKind::Binary { op, lhs, rhs, .. } => write!(f, "({lhs} {} {rhs})", op.as_str()),
        }
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExprError {}

/// Writes a string literal in single quotes, escaping what the lexer would otherwise misread.
fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("'")?;
    for c in text.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\'' => f.write_str("\\'")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            c => fmt::Write::write_char(f, c)?,
        }
    }
    f.write_str("'")
}

fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    f.write_str("[")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str("]")
}

/// Writes a path with dots where the segment allows it and `['…']` where it does not (`a.b`, `-x`).
fn write_path(f: &mut fmt::Formatter<'_>, segments: &[Segment]) -> fmt::Result {
    for (i, segment) in segments.iter().enumerate() {
        if i == 0 {
            f.write_str(&segment.name)?;
        } else if parse::is_dot_segment(&segment.name) {
            write!(f, ".{}", segment.name)?;
        } else {
            f.write_str("[")?;
            write_quoted(f, &segment.name)?;
            f.write_str("]")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_listed_in_source_order() {
        let expr =
            parse("steps.a.status == 'x' && (env.B != '1' || !inputs.c) && stage.id in [steps.d.outputs.e]").unwrap();
        let names: Vec<String> = expr
            .paths()
            .iter()
            .map(|path| path.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join("/"))
            .collect();
        assert_eq!(names, ["steps/a/status", "env/B", "inputs/c", "stage/id", "steps/d/outputs/e"]);
    }

    #[test]
    fn bracket_segments_keep_their_name_and_the_span_of_the_quoted_string() {
        let source = "steps['build.v2'].status";
        let expr = parse(source).unwrap();
        let path = expr.paths()[0];
        assert_eq!(path[1].name, "build.v2");
        assert_eq!(&source[path[1].span.start..path[1].span.end], "'build.v2'");
        assert_eq!(&source[path[2].span.start..path[2].span.end], "status");
        assert_eq!(expr.span, Span::new(0, source.len()));
    }

    #[test]
    fn compared_literals_finds_both_sides_and_lists() {
        let source = "steps.a.status == 'succeeded' && 'failed' != steps.b.status \
                      && steps.c.status in ['skipped', 1, 'canceled'] && env.X < 'b' && env.Y in 'abc' && env.Z == 3";
        let expr = parse(source).unwrap();
        let found: Vec<(String, Vec<String>)> = expr
            .compared_literals()
            .into_iter()
            .map(|(path, literals)| {
                let path = path.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(".");
                (path, literals.iter().map(|l| source[l.span.start..l.span.end].to_owned()).collect())
            })
            .collect();
        assert_eq!(
            found,
            [
                ("steps.a.status".to_owned(), vec!["'succeeded'".to_owned()]),
                ("steps.b.status".to_owned(), vec!["'failed'".to_owned()]),
                ("steps.c.status".to_owned(), vec!["'skipped'".to_owned(), "'canceled'".to_owned()]),
            ]
        );
    }

    #[test]
    fn display_quotes_segments_that_need_it() {
        let expr = parse(r#"steps["a.b"]['c-d'].x['y z']['it\'s']"#).unwrap();
        assert_eq!(expr.to_string(), r"steps['a.b'].c-d.x['y z']['it\'s']");
    }
}
