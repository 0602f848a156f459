//! [`Expr`] → [`Value`]: what the engine runs to decide `condition`, `skip_if` and `when`.
//!
//! Evaluation is pure: names are looked up through a [`Scope`] the caller provides, and nothing else
//! of the host is reachable.

use std::fmt;

use super::{BinaryOp, Expr, ExprKind, MAX_NESTING, MAX_OPERATORS};
use crate::syntax::Span;

/// The value of an expression or of a name in its scope.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Value>),
}

/// Where the values of paths come from (`steps.build.status` → `["steps", "build", "status"]`).
///
/// A path the scope does not know is `None` and evaluates to [`Value::Null`], so a condition can
/// test for an output that may not have been written. Any `Fn(&[&str]) -> Option<Value>` is a scope.
pub trait Scope {
    fn resolve(&self, path: &[&str]) -> Option<Value>;
}

impl<F: Fn(&[&str]) -> Option<Value>> Scope for F {
    fn resolve(&self, path: &[&str]) -> Option<Value> {
        self(path)
    }
}

/// Why an expression could not be evaluated: an operator met values it is not defined on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError {
    pub message: String,
    /// The operation that failed, in the expression's source.
    pub span: Span,
}

/// Computes the value of `expr`.
///
/// `==` and `!=` compare by type and value (`1 == '1'` is false); `<`, `<=`, `>`, `>=` need two
/// numbers or two strings; `in` looks for an element of a list or a substring of a string; `&&` and
/// `||` evaluate their right side only when it decides the result and give a boolean; `!` negates
/// truthiness (see [`is_truthy`]).
pub fn evaluate(expr: &Expr, scope: &dyn Scope) -> Result<Value, EvalError> {
    eval(expr, scope, 0)
}

/// `false`, `null`, `""`, `0` (and NaN) and `[]` are false; every other value is true.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(value) => *value,
        Value::Number(number) => *number != 0.0 && !number.is_nan(),
        Value::String(text) => !text.is_empty(),
        Value::List(items) => !items.is_empty(),
    }
}

impl Value {
    /// The type as an error message names it: "a string", "null", …
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::List(_) => "a list",
        }
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Value::Number(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::String(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::String(value)
    }
}

/// Prints the value as a literal of the language: `'text'`, `3`, `[true, null]`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(value) => write!(f, "{value}"),
            Value::Number(number) => write!(f, "{number}"),
            Value::String(text) => super::write_quoted(f, text),
            Value::List(items) => super::write_list(f, items),
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EvalError {}

/// No tree that [`super::parse`] returns is deeper than this, so the limit only stops trees built by
/// hand from recursing without bound.
const MAX_DEPTH: usize = MAX_NESTING + MAX_OPERATORS + 1;

fn eval(expr: &Expr, scope: &dyn Scope, depth: usize) -> Result<Value, EvalError> {
    if depth > MAX_DEPTH {
        return Err(EvalError { message: "expression is nested too deeply to evaluate".to_owned(), span: expr.span });
    }
    let value = match &expr.kind {
        ExprKind::String(text) => Value::String(text.clone()),
        ExprKind::Number(number) => Value::Number(*number),
        ExprKind::Bool(value) => Value::Bool(*value),
        ExprKind::Null => Value::Null,
        ExprKind::List(items) => {
            Value::List(items.iter().map(|item| eval(item, scope, depth + 1)).collect::<Result<_, _>>()?)
        }
        ExprKind::Path(segments) => {
            let names: Vec<&str> = segments.iter().map(|segment| segment.name.as_str()).collect();
            scope.resolve(&names).unwrap_or(Value::Null)
        }
        ExprKind::Not(operand) => Value::Bool(!is_truthy(&eval(operand, scope, depth + 1)?)),
        ExprKind::Binary { op: op @ (BinaryOp::And | BinaryOp::Or), lhs, rhs, .. } => {
            // The left side decides alone when it is false for `&&` or true for `||`.
            let left = is_truthy(&eval(lhs, scope, depth + 1)?);
            let decided = left == (*op == BinaryOp::Or);
            Value::Bool(if decided { left } else { is_truthy(&eval(rhs, scope, depth + 1)?) })
        }
        ExprKind::Binary { op, lhs, rhs, .. } => {
            let left = eval(lhs, scope, depth + 1)?;
            let right = eval(rhs, scope, depth + 1)?;
            let result = compare(*op, &left, &right).map_err(|message| EvalError { message, span: expr.span })?;
            Value::Bool(result)
        }
    };
    Ok(value)
}

/// Applies a comparison operator; the error names the operator and both types.
fn compare(op: BinaryOp, left: &Value, right: &Value) -> Result<bool, String> {
    let ordering = match (op, left, right) {
        (BinaryOp::Eq, ..) => return Ok(left == right),
        (BinaryOp::Ne, ..) => return Ok(left != right),
        (BinaryOp::In, _, Value::List(items)) => return Ok(items.contains(left)),
        (BinaryOp::In, Value::String(needle), Value::String(haystack)) => return Ok(haystack.contains(needle.as_str())),
        (BinaryOp::In, _, Value::String(_)) => {
            return Err(format!(
                "`in` with a string on the right needs a string on the left, not {}",
                left.type_name()
            ));
        }
        (BinaryOp::In, ..) => {
            return Err(format!("`in` needs a list or a string on the right, not {}", right.type_name()))
        }
        (_, Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
        (_, Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => {
            return Err(format!(
                "`{op}` needs two numbers or two strings, not {} and {}",
                left.type_name(),
                right.type_name()
            ));
        }
    };
    // NaN is not ordered against anything, so every ordering comparison with it is false.
    Ok(ordering.is_some_and(|ordering| match op {
        BinaryOp::Lt => ordering.is_lt(),
        BinaryOp::Le => ordering.is_le(),
        BinaryOp::Gt => ordering.is_gt(),
        BinaryOp::Ge => ordering.is_ge(),
        BinaryOp::Or | BinaryOp::And | BinaryOp::Eq | BinaryOp::Ne | BinaryOp::In => false,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{parse, ExprKind, Segment};
    use super::*;

    /// The scope of the tests: a few steps, an environment and a list.
    fn scope(path: &[&str]) -> Option<Value> {
        let value = match path {
            ["steps", "build", "status"] => "succeeded".into(),
            ["steps", "test", "status"] => "failed".into(),
            ["steps", "build", "outputs", "version"] => "1.2.0".into(),
            ["steps", "x", "outputs", "y"] => "text".into(),
            ["env", "DRY_RUN"] => "1".into(),
            ["inputs", "count"] => 3.0.into(),
            ["inputs", "tags"] => Value::List(vec!["a".into(), "b".into()]),
            ["stage", "id"] => "deploy".into(),
            _ => return None,
        };
        Some(value)
    }

    fn run(source: &str) -> Result<Value, EvalError> {
        let expr = parse(source).unwrap_or_else(|error| panic!("{source:?} does not parse: {error:?}"));
        evaluate(&expr, &scope)
    }

    fn truth(source: &str) -> bool {
        match run(source) {
            Ok(Value::Bool(value)) => value,
            other => panic!("{source:?} gives {other:?}"),
        }
    }

    fn eval_error(source: &str) -> (String, usize, usize) {
        match run(source) {
            Ok(value) => panic!("{source:?} gives {value:?}"),
            Err(error) => (error.message, error.span.start, error.span.end),
        }
    }

    #[test]
    fn literals_and_paths() {
        assert_eq!(run("'a'"), Ok("a".into()));
        assert_eq!(run("-2.5"), Ok(Value::Number(-2.5)));
        assert_eq!(run("null"), Ok(Value::Null));
        assert_eq!(
            run("[1, 'a', [true]]"),
            Ok(Value::List(vec![1.0.into(), "a".into(), Value::List(vec![true.into()])]))
        );
        assert_eq!(run("steps.build.status"), Ok("succeeded".into()));
        assert_eq!(run("steps['build'].outputs.version"), Ok("1.2.0".into()));
        assert_eq!(run("steps.missing.status"), Ok(Value::Null));
        assert!(truth("steps.missing.outputs.x == null"));
    }

    #[test]
    fn equality_compares_type_and_value() {
        assert!(truth("steps.build.status == 'succeeded'"));
        assert!(truth("env.DRY_RUN != '0'"));
        assert!(!truth("inputs.count == '3'"));
        assert!(truth("inputs.count == 3.0"));
        assert!(!truth("env.DRY_RUN == 1"));
        assert!(truth("inputs.tags == ['a', 'b']"));
        assert!(!truth("inputs.tags == ['b', 'a']"));
        assert!(truth("null == null"));
        assert!(!truth("null == false"));
        assert!(!truth("'' == false"));
    }

    #[test]
    fn ordering_needs_two_numbers_or_two_strings() {
        assert!(truth("inputs.count < 4"));
        assert!(truth("inputs.count <= 3"));
        assert!(!truth("inputs.count > 3"));
        assert!(truth("inputs.count >= -3"));
        assert!(truth("'abc' < 'abd'"));
        assert!(truth("'b' > 'abc'"));
        assert_eq!(
            eval_error("steps.x.outputs.y < 3"),
            ("`<` needs two numbers or two strings, not a string and a number".to_owned(), 0, 21)
        );
        assert_eq!(
            eval_error("(null >= 1)"),
            ("`>=` needs two numbers or two strings, not null and a number".to_owned(), 0, 11)
        );
        assert_eq!(
            eval_error("true > false"),
            ("`>` needs two numbers or two strings, not a boolean and a boolean".to_owned(), 0, 12)
        );
    }

    #[test]
    fn membership_in_lists_and_strings() {
        assert!(truth("stage.id in ['deploy', 'production_release']"));
        assert!(!truth("stage.id in ['build']"));
        assert!(!truth("stage.id in []"));
        assert!(truth("'a' in inputs.tags"));
        assert!(truth("3 in [1, 2, 3]"));
        assert!(!truth("'3' in [1, 2, 3]"));
        assert!(truth("[1] in [[1], [2]]"));
        assert!(truth("'ploy' in stage.id"));
        assert!(truth("'' in stage.id"));
        assert!(!truth("'x' in stage.id"));
        assert_eq!(
            eval_error("'a' in steps.missing.outputs.y"),
            ("`in` needs a list or a string on the right, not null".to_owned(), 0, 30)
        );
        assert_eq!(
            eval_error("1 in 'abc'"),
            ("`in` with a string on the right needs a string on the left, not a number".to_owned(), 0, 10)
        );
    }

    #[test]
    fn logic_uses_truthiness_and_short_circuits() {
        assert!(truth("steps.build.status == 'succeeded' && env.DRY_RUN != '0'"));
        assert!(!truth("true && 0"));
        assert!(truth("'' || [1]"));
        assert!(!truth("null || []"));
        assert!(truth("!''"));
        assert!(!truth("!'x'"));
        assert!(truth("!(steps.build.outputs.version == '')"));
        assert!(!truth("false && steps.x.outputs.y < 3"));
        assert!(truth("true || steps.x.outputs.y < 3"));
        assert!(eval_error("true && steps.x.outputs.y < 3").0.starts_with("`<` needs"));
        assert!(eval_error("false || steps.x.outputs.y < 3").0.starts_with("`<` needs"));
        // The error is the one of the operation that failed, not of the whole condition.
        assert_eq!(eval_error("true && (steps.x.outputs.y < 3)").1, 8);
    }

    #[test]
    fn truthiness() {
        for falsy in
            [Value::Null, false.into(), "".into(), 0.0.into(), (-0.0).into(), f64::NAN.into(), Value::List(vec![])]
        {
            assert!(!is_truthy(&falsy), "{falsy:?}");
        }
        for truthy in [true.into(), "0".into(), "false".into(), 0.5.into(), Value::List(vec![Value::Null])] {
            assert!(is_truthy(&truthy), "{truthy:?}");
        }
    }

    #[test]
    fn values_print_as_literals() {
        let value = Value::List(vec![Value::Null, true.into(), 1.5.into(), "it's".into()]);
        assert_eq!(value.to_string(), "[null, true, 1.5, 'it\\'s']");
    }

    #[test]
    fn trees_built_by_hand_cannot_overflow_the_stack() {
        let span = Span::new(0, 1);
        let mut expr = Expr { kind: ExprKind::Path(vec![Segment { name: "a".to_owned(), span }]), span };
        for _ in 0..2 * MAX_DEPTH {
            expr = Expr { kind: ExprKind::Not(Box::new(expr)), span };
        }
        let error = evaluate(&expr, &scope).unwrap_err();
        assert_eq!(error.message, "expression is nested too deeply to evaluate");
    }
}
