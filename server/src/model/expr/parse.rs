//! Source text → [`Expr`]: a lexer that runs ahead of a recursive-descent parser.
//!
//! Errors are reported in source order: the lexer stops at the first character it cannot read and
//! leaves an error token there, which the parser only reports if it gets that far, so a mistake
//! earlier in the text is always the one the user sees.

use super::{BinaryOp, Expr, ExprError, ExprKind, Segment, MAX_NESTING, MAX_OPERATORS};
use crate::syntax::Span;

/// Parses one expression; the whole source must be that expression.
pub fn parse(source: &str) -> Result<Expr, ExprError> {
    let mut parser = Parser { source, tokens: Lexer::new(source).run(), pos: 0, nesting: 0, operators: 0 };
    if matches!(parser.peek()?.kind, TokenKind::End) {
        return Err(error("empty expression", Span::new(0, source.len())));
    }
    let expr = parser.expression()?;
    parser.end()?;
    Ok(expr)
}

/// True when `name` can follow a dot in a path: `[A-Za-z0-9_][A-Za-z0-9_-]*`.
pub(super) fn is_dot_segment(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_segment_start) && chars.all(is_segment_char)
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Stage ids may start with a digit, so a segment after a dot may too.
fn is_segment_start(c: char) -> bool {
    is_word_char(c)
}

fn is_segment_char(c: char) -> bool {
    is_word_char(c) || c == '-'
}

fn error(message: impl Into<String>, span: Span) -> ExprError {
    ExprError { message: message.into(), span }
}

#[derive(Clone, Debug, PartialEq)]
enum TokenKind {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Bang,
    /// A symbolic binary operator; `in` is a [`TokenKind::Word`].
    Op(BinaryOp),
    Str(String),
    Number(f64),
    /// An identifier, a keyword, or a segment right after a dot; the text is in the source.
    Word,
    End,
    /// The lexer stopped here; the parser reports this if it gets this far.
    Error(ExprError),
}

#[derive(Clone, Debug)]
struct Token {
    kind: TokenKind,
    span: Span,
}

struct Lexer<'s> {
    source: &'s str,
    pos: usize,
    tokens: Vec<Token>,
}

impl<'s> Lexer<'s> {
    fn new(source: &'s str) -> Self {
        Lexer { source, pos: 0, tokens: Vec::new() }
    }

    /// Reads every token; the last one is always [`TokenKind::End`] or [`TokenKind::Error`].
    fn run(mut self) -> Vec<Token> {
        loop {
            let after_dot =
                matches!(self.tokens.last(), Some(Token { kind: TokenKind::Dot, span }) if span.end == self.pos);
            if after_dot && self.peek().is_some_and(is_segment_start) {
                // Right after a dot the rules for names change: `steps.3d-render` is one segment.
                let start = self.pos;
                self.eat_while(is_segment_char);
                self.push(TokenKind::Word, start);
                continue;
            }
            self.eat_while(char::is_whitespace);
            let start = self.pos;
            let Some(c) = self.peek() else {
                self.push(TokenKind::End, start);
                return self.tokens;
            };
            match self.token(c) {
                Ok(kind) => self.push(kind, start),
                Err(error) => {
                    let span = error.span;
                    self.tokens.push(Token { kind: TokenKind::Error(error), span });
                    return self.tokens;
                }
            }
        }
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.tokens.push(Token { kind, span: Span::new(start, self.pos) });
    }

    fn peek(&self) -> Option<char> {
        self.source[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.source[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, expected: char) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.pos += expected.len_utf8();
        }
        found
    }

    fn eat_while(&mut self, predicate: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&predicate) {
            self.bump();
        }
    }

    /// Reads the token that starts with `c` at `self.pos`.
    fn token(&mut self, c: char) -> Result<TokenKind, ExprError> {
        let start = self.pos;
        if c == '\'' || c == '"' {
            return self.string(c);
        }
        if c.is_ascii_digit() || c == '-' && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
            return self.number();
        }
        if is_word_start(c) {
            self.eat_while(is_word_char);
            return Ok(TokenKind::Word);
        }
        if self.source[start..].starts_with("${{") {
            return Err(error(
                "write the expression without `${{ }}`: it is already an expression",
                Span::new(start, start + 3),
            ));
        }
        self.bump();
        let kind = match c {
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            '[' => TokenKind::LBracket,
            ']' => TokenKind::RBracket,
            ',' => TokenKind::Comma,
            '.' => TokenKind::Dot,
            '!' if self.eat('=') => TokenKind::Op(BinaryOp::Ne),
            '!' => TokenKind::Bang,
            '<' if self.eat('=') => TokenKind::Op(BinaryOp::Le),
            '<' => TokenKind::Op(BinaryOp::Lt),
            '>' if self.eat('=') => TokenKind::Op(BinaryOp::Ge),
            '>' => TokenKind::Op(BinaryOp::Gt),
            '=' if self.eat('=') => TokenKind::Op(BinaryOp::Eq),
            '&' if self.eat('&') => TokenKind::Op(BinaryOp::And),
            '|' if self.eat('|') => TokenKind::Op(BinaryOp::Or),
            '=' => return Err(self.error_here("unexpected `=`; did you mean `==`?", start)),
            '&' => return Err(self.error_here("unexpected `&`; did you mean `&&`?", start)),
            '|' => return Err(self.error_here("unexpected `|`; did you mean `||`?", start)),
            '+' | '-' | '*' | '/' | '%' => {
                return Err(self.error_here(format!("unexpected `{c}`: expressions have no arithmetic"), start));
            }
            c => return Err(self.error_here(format!("unexpected character `{}`", c.escape_debug()), start)),
        };
        Ok(kind)
    }

    fn error_here(&self, message: impl Into<String>, start: usize) -> ExprError {
        error(message, Span::new(start, self.pos))
    }

    /// `-?[0-9]+(\.[0-9]+)?`. A dot not followed by a digit is left alone, so `1.x` reads as `1`, `.x`.
    fn number(&mut self) -> Result<TokenKind, ExprError> {
        let start = self.pos;
        self.eat('-');
        self.eat_while(|c| c.is_ascii_digit());
        if self.peek() == Some('.') && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            self.eat_while(|c| c.is_ascii_digit());
        }
        let text = &self.source[start..self.pos];
        text.parse().map(TokenKind::Number).map_err(|_| self.error_here(format!("`{text}` is not a number"), start))
    }

    /// A string in `quote`s with the escapes `\\ \' \" \n \t`.
    fn string(&mut self, quote: char) -> Result<TokenKind, ExprError> {
        let start = self.pos;
        self.bump();
        let mut value = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(error("unterminated string", Span::new(start, self.source.len())));
            };
            match c {
                c if c == quote => return Ok(TokenKind::Str(value)),
                '\\' => {
                    let escape_start = self.pos - 1;
                    let Some(escaped) = self.bump() else {
                        return Err(error("unterminated string", Span::new(start, self.source.len())));
                    };
                    value.push(match escaped {
                        '\\' | '\'' | '"' => escaped,
                        'n' => '\n',
                        't' => '\t',
                        other => {
                            return Err(self.error_here(
                                format!(
                                    "unknown escape `\\{}`; the escapes are \\\\ \\' \\\" \\n \\t",
                                    other.escape_debug()
                                ),
                                escape_start,
                            ))
                        }
                    });
                }
                c => value.push(c),
            }
        }
    }
}

struct Parser<'s> {
    source: &'s str,
    /// Never empty; ends with [`TokenKind::End`] or [`TokenKind::Error`], which is never stepped over.
    tokens: Vec<Token>,
    pos: usize,
    /// Brackets and `!` currently open.
    nesting: usize,
    /// Binary operators read so far.
    operators: usize,
}

/// Binding strength of the binary operators, lowest first: `||`, `&&`, `== !=`, `< <= > >= in`.
const LOWEST: u8 = 0;
const HIGHEST: u8 = 3;

fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 0,
        BinaryOp::And => 1,
        BinaryOp::Eq | BinaryOp::Ne => 2,
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::In => 3,
    }
}

impl Parser<'_> {
    /// The current token, or the lexer's error if the parser has reached it.
    fn peek(&self) -> Result<&Token, ExprError> {
        let token = &self.tokens[self.pos];
        match &token.kind {
            TokenKind::Error(error) => Err(error.clone()),
            _ => Ok(token),
        }
    }

    fn advance(&mut self) {
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
    }

    fn text(&self, span: Span) -> &str {
        &self.source[span.start..span.end]
    }

    /// A token as the user wrote it, shortened so a long string does not swamp the message.
    fn describe(&self, token: &Token) -> String {
        if token.kind == TokenKind::End {
            return "the end of the expression".to_owned();
        }
        const MAX_CHARS: usize = 24;
        let text = self.text(token.span);
        match text.char_indices().nth(MAX_CHARS) {
            Some((cut, _)) => format!("`{}…`", &text[..cut]),
            None => format!("`{text}`"),
        }
    }

    fn expression(&mut self) -> Result<Expr, ExprError> {
        self.binary(LOWEST)
    }

    /// After the whole expression only the end may follow.
    fn end(&self) -> Result<(), ExprError> {
        let token = self.peek()?;
        let message = match token.kind {
            TokenKind::End => return Ok(()),
            TokenKind::RParen => "unmatched `)`".to_owned(),
            TokenKind::RBracket => "unmatched `]`".to_owned(),
            _ => format!("unexpected {} after the end of the expression", self.describe(token)),
        };
        Err(error(message, token.span))
    }

    /// Operators of precedence `level` and above. Each level loops instead of recursing, so a long
    /// chain costs no stack; comparisons refuse to chain because `a == b == c` never means what it says.
    fn binary(&mut self, level: u8) -> Result<Expr, ExprError> {
        let mut lhs = self.operand(level)?;
        let mut chained = false;
        while let Some((op, op_span)) = self.operator()? {
            if precedence(op) != level {
                break;
            }
            if chained && op.is_comparison() {
                return Err(error("comparison operators cannot be chained; use `&&`", op_span));
            }
            self.advance();
            self.operators += 1;
            if self.operators > MAX_OPERATORS {
                return Err(error(
                    format!("expression has too many operators (the limit is {MAX_OPERATORS})"),
                    op_span,
                ));
            }
            let rhs = self.operand(level)?;
            let span = lhs.span.cover(rhs.span);
            lhs = Expr { kind: ExprKind::Binary { op, op_span, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span };
            chained = true;
        }
        Ok(lhs)
    }

    fn operand(&mut self, level: u8) -> Result<Expr, ExprError> {
        if level == HIGHEST {
            self.unary()
        } else {
            self.binary(level + 1)
        }
    }

    /// The binary operator at the current token, if there is one. The words people bring from
    /// other languages (`and`, `or`, `not`) are errors here rather than "unexpected word".
    fn operator(&self) -> Result<Option<(BinaryOp, Span)>, ExprError> {
        let token = self.peek()?;
        let op = match token.kind {
            TokenKind::Op(op) => op,
            TokenKind::Word => match self.text(token.span) {
                "in" => BinaryOp::In,
                "and" => return Err(error("use `&&` instead of `and`", token.span)),
                "or" => return Err(error("use `||` instead of `or`", token.span)),
                "not" => {
                    let next = &self.tokens[(self.pos + 1).min(self.tokens.len() - 1)];
                    let message = if next.kind == TokenKind::Word && self.text(next.span) == "in" {
                        "use `!(x in list)` instead of `x not in list`"
                    } else {
                        "use `!` instead of `not`"
                    };
                    return Err(error(message, token.span));
                }
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        Ok(Some((op, token.span)))
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        let token = self.peek()?;
        if token.kind != TokenKind::Bang {
            return self.primary();
        }
        let bang = token.span;
        self.open(bang)?;
        self.advance();
        let operand = self.unary()?;
        self.nesting -= 1;
        let span = bang.cover(operand.span);
        Ok(Expr { kind: ExprKind::Not(Box::new(operand)), span })
    }

    /// Counts one more open bracket or `!`, refusing to go deeper than [`MAX_NESTING`].
    fn open(&mut self, span: Span) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(error(format!("expression is nested too deeply (the limit is {MAX_NESTING} levels)"), span));
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let token = self.peek()?.clone();
        let kind = match token.kind {
            TokenKind::Str(value) => ExprKind::String(value),
            TokenKind::Number(value) => ExprKind::Number(value),
            TokenKind::LParen => return self.parenthesized(token.span),
            TokenKind::LBracket => return self.list(token.span),
            TokenKind::Word => match self.text(token.span) {
                "true" => ExprKind::Bool(true),
                "false" => ExprKind::Bool(false),
                "null" => ExprKind::Null,
                "not" => return Err(error("use `!` instead of `not`", token.span)),
                "in" | "and" | "or" => return Err(self.expected_value(&token)),
                _ => return self.path(token.span),
            },
            _ => return Err(self.expected_value(&token)),
        };
        self.advance();
        Ok(Expr { kind, span: token.span })
    }

    /// The error for a token that cannot start a value, phrased after what came before it.
    fn expected_value(&self, found: &Token) -> ExprError {
        let Some(previous) = self.pos.checked_sub(1).map(|i| &self.tokens[i]) else {
            let is_operator = matches!(found.kind, TokenKind::Op(_))
                || found.kind == TokenKind::Word && matches!(self.text(found.span), "in" | "and" | "or");
            let message = if is_operator {
                format!("expected a value before {}", self.describe(found))
            } else {
                format!("expected a value, found {}", self.describe(found))
            };
            return error(message, found.span);
        };
        // At the end there is nothing to underline, so the error sits right after the operator.
        let span = if found.kind == TokenKind::End { Span::empty(previous.span.end) } else { found.span };
        error(format!("expected a value after {}", self.describe(previous)), span)
    }

    fn parenthesized(&mut self, open: Span) -> Result<Expr, ExprError> {
        self.open(open)?;
        self.advance();
        let inner = self.expression()?;
        let close = self.peek()?;
        match close.kind {
            TokenKind::RParen => {}
            TokenKind::End => return Err(error("expected `)` to close this `(`", open)),
            _ => return Err(error(format!("expected an operator or `)`, found {}", self.describe(close)), close.span)),
        }
        let span = open.cover(close.span);
        self.advance();
        self.nesting -= 1;
        Ok(Expr { span, ..inner })
    }

    fn list(&mut self, open: Span) -> Result<Expr, ExprError> {
        self.open(open)?;
        self.advance();
        let mut items = Vec::new();
        let close = loop {
            let token = self.peek()?;
            if token.kind == TokenKind::RBracket {
                break token.span;
            }
            items.push(self.expression()?);
            let token = self.peek()?;
            match token.kind {
                TokenKind::Comma => self.advance(),
                TokenKind::RBracket => break token.span,
                TokenKind::End => return Err(error("expected `]` to close this `[`", open)),
                _ => return Err(error(format!("expected `,` or `]`, found {}", self.describe(token)), token.span)),
            }
        };
        self.advance();
        self.nesting -= 1;
        Ok(Expr { kind: ExprKind::List(items), span: open.cover(close) })
    }

    /// `first` followed by `.name` and `['name']` parts, with no space in between: a space ends the
    /// path, so `steps ['x']` is not read as a segment.
    fn path(&mut self, first: Span) -> Result<Expr, ExprError> {
        let mut segments = vec![Segment { name: self.text(first).to_owned(), span: first }];
        let mut end = first.end;
        self.advance();
        loop {
            let token = self.peek()?;
            if token.span.start != end {
                break;
            }
            match token.kind {
                TokenKind::Dot => {
                    let dot = token.span;
                    self.advance();
                    let name = self.peek()?;
                    if name.kind != TokenKind::Word || name.span.start != dot.end {
                        return Err(match name.kind {
                            TokenKind::End => error("expected a name after `.`", Span::empty(dot.end)),
                            TokenKind::Word => error("unexpected space after `.`", Span::new(dot.end, name.span.start)),
                            _ => error(format!("expected a name after `.`, found {}", self.describe(name)), name.span),
                        });
                    }
                    segments.push(Segment { name: self.text(name.span).to_owned(), span: name.span });
                    end = name.span.end;
                    self.advance();
                }
                TokenKind::LBracket => {
                    let open = token.span;
                    self.advance();
                    let name = self.peek()?.clone();
                    let TokenKind::Str(value) = name.kind else {
                        let span = if name.kind == TokenKind::End { Span::empty(open.end) } else { name.span };
                        return Err(error("expected a quoted name after `[`, as in `steps['build.v2']`", span));
                    };
                    self.advance();
                    let close = self.peek()?;
                    match close.kind {
                        TokenKind::RBracket => {}
                        TokenKind::End => return Err(error("expected `]` to close this `[`", open)),
                        _ => {
                            return Err(error(
                                format!("expected `]` after the name, found {}", self.describe(close)),
                                close.span,
                            ))
                        }
                    }
                    segments.push(Segment { name: value, span: name.span });
                    end = close.span.end;
                    self.advance();
                }
                _ => break,
            }
        }
        Ok(Expr { kind: ExprKind::Path(segments), span: Span::new(first.start, end) })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The canonical form of a source that must parse.
    fn show(source: &str) -> String {
        match parse(source) {
            Ok(expr) => expr.to_string(),
            Err(error) => panic!("{source:?} does not parse: {error:?}"),
        }
    }

    /// The error of a source that must not parse, as `(message, start, end)`.
    fn fail(source: &str) -> (String, usize, usize) {
        match parse(source) {
            Ok(expr) => panic!("{source:?} parses as {expr}"),
            Err(error) => (error.message, error.span.start, error.span.end),
        }
    }

    fn failure(message: &str, start: usize, end: usize) -> (String, usize, usize) {
        (message.to_owned(), start, end)
    }

    #[test]
    fn examples_from_the_spec() {
        assert_eq!(
            show("steps.clarify.status == 'succeeded' && env.DRY_RUN != '1'"),
            "((steps.clarify.status == 'succeeded') && (env.DRY_RUN != '1'))"
        );
        assert_eq!(
            show("stage.id in ['deploy', 'production_release']"),
            "(stage.id in ['deploy', 'production_release'])"
        );
        assert_eq!(show("!(steps.build.outputs.version == '')"), "!(steps.build.outputs.version == '')");
        assert_eq!(
            show("steps['build.v2'].status in ['failed', 'timed_out']"),
            "(steps['build.v2'].status in ['failed', 'timed_out'])"
        );
        assert_eq!(show("inputs.severity >= 'high'"), "(inputs.severity >= 'high')");
    }

    #[test]
    fn literals() {
        assert_eq!(show("'it\\'s'"), "'it\\'s'");
        assert_eq!(show(r#""say \"hi\"\n\t\\""#), "'say \"hi\"\\n\\t\\\\'");
        assert_eq!(show("3"), "3");
        assert_eq!(show("0.5"), "0.5");
        assert_eq!(show("-2"), "-2");
        assert_eq!(show("-2.25"), "-2.25");
        assert_eq!(show("true"), "true");
        assert_eq!(show("false"), "false");
        assert_eq!(show("null"), "null");
        assert_eq!(parse("'a\\nb'").unwrap().kind, ExprKind::String("a\nb".to_owned()));
        assert_eq!(parse("-0.5").unwrap().kind, ExprKind::Number(-0.5));
        assert_eq!(parse("  'x'  ").unwrap().span, Span::new(2, 5));
    }

    #[test]
    fn lists() {
        assert_eq!(show("[]"), "[]");
        assert_eq!(show("[1, 'a', [true], null,]"), "[1, 'a', [true], null]");
        assert_eq!(show("[a == b, !c]"), "[(a == b), !c]");
        assert_eq!(show("x in [\n  'a',\n  'b',\n]"), "(x in ['a', 'b'])");
        assert_eq!(parse("[1, 2]").unwrap().span, Span::new(0, 6));
    }

    #[test]
    fn paths() {
        assert_eq!(show("foo"), "foo");
        assert_eq!(show("env.DRY_RUN"), "env.DRY_RUN");
        assert_eq!(show("steps.3d-render.status"), "steps.3d-render.status");
        assert_eq!(show("steps.build-x.outputs.my-key"), "steps.build-x.outputs.my-key");
        assert_eq!(show("steps.a.outputs.in"), "steps.a.outputs.in");
        assert_eq!(show("steps.true.status"), "steps.true.status");
        assert_eq!(show("steps['a.b'].outputs['c d']"), "steps['a.b'].outputs['c d']");
        assert_eq!(show("steps[ \"a.b\" ].status"), "steps['a.b'].status");
        let ExprKind::Path(segments) = parse("steps.3d-render.status").unwrap().kind else { panic!("not a path") };
        let spans: Vec<Span> = segments.iter().map(|s| s.span).collect();
        assert_eq!(spans, [Span::new(0, 5), Span::new(6, 15), Span::new(16, 22)]);
    }

    #[test]
    fn precedence() {
        assert_eq!(show("a || b && c"), "(a || (b && c))");
        assert_eq!(show("a && b || c"), "((a && b) || c)");
        assert_eq!(show("a || b || c"), "((a || b) || c)");
        assert_eq!(show("!a == b"), "(!a == b)");
        assert_eq!(show("!!a"), "!!a");
        assert_eq!(show("a == b && c != d"), "((a == b) && (c != d))");
        assert_eq!(show("a < b == c"), "((a < b) == c)");
        assert_eq!(show("a == b in c"), "(a == (b in c))");
        assert_eq!(show("a <= 1 && b > 2 || c >= 3 && d < 4"), "(((a <= 1) && (b > 2)) || ((c >= 3) && (d < 4)))");
        assert_eq!(show("(a || b) && c"), "((a || b) && c)");
        assert_eq!(show("((a))"), "a");
    }

    #[test]
    fn spans_cover_operators_operands_and_parentheses() {
        let expr = parse("(a == 'x') && !b").unwrap();
        assert_eq!(expr.span, Span::new(0, 16));
        let ExprKind::Binary { op, op_span, lhs, rhs } = expr.kind else { panic!("not binary") };
        assert_eq!((op, op_span), (BinaryOp::And, Span::new(11, 13)));
        assert_eq!(lhs.span, Span::new(0, 10));
        assert_eq!(rhs.span, Span::new(14, 16));
        let ExprKind::Binary { op_span, rhs: literal, .. } = lhs.kind else { panic!("not binary") };
        assert_eq!(op_span, Span::new(3, 5));
        assert_eq!(literal.span, Span::new(6, 9));
    }

    #[test]
    fn lexical_errors() {
        assert_eq!(fail(""), failure("empty expression", 0, 0));
        assert_eq!(fail("  \n"), failure("empty expression", 0, 3));
        assert_eq!(fail("'abc"), failure("unterminated string", 0, 4));
        assert_eq!(fail("a == \"x"), failure("unterminated string", 5, 7));
        assert_eq!(fail("a == 'x\\"), failure("unterminated string", 5, 8));
        assert_eq!(fail("'a\\qb'"), failure("unknown escape `\\q`; the escapes are \\\\ \\' \\\" \\n \\t", 2, 4));
        assert_eq!(fail("a # b"), failure("unexpected character `#`", 2, 3));
        assert_eq!(fail("a == é"), failure("unexpected character `é`", 5, 7));
        assert_eq!(fail("a = b"), failure("unexpected `=`; did you mean `==`?", 2, 3));
        assert_eq!(fail("a & b"), failure("unexpected `&`; did you mean `&&`?", 2, 3));
        assert_eq!(fail("a | b"), failure("unexpected `|`; did you mean `||`?", 2, 3));
        assert_eq!(fail("a + 1"), failure("unexpected `+`: expressions have no arithmetic", 2, 3));
        assert_eq!(fail("a - b"), failure("unexpected `-`: expressions have no arithmetic", 2, 3));
        assert_eq!(
            fail("${{ a }}"),
            failure("write the expression without `${{ }}`: it is already an expression", 0, 3)
        );
    }

    #[test]
    fn the_leftmost_error_wins() {
        // The parse error at `b` comes before the lexical error at `#`.
        assert_eq!(fail("a b #"), failure("unexpected `b` after the end of the expression", 2, 3));
        assert_eq!(fail("(a # b"), failure("unexpected character `#`", 3, 4));
    }

    #[test]
    fn words_from_other_languages() {
        assert_eq!(fail("a and b"), failure("use `&&` instead of `and`", 2, 5));
        assert_eq!(fail("a or b"), failure("use `||` instead of `or`", 2, 4));
        assert_eq!(fail("not a"), failure("use `!` instead of `not`", 0, 3));
        assert_eq!(fail("a && not b"), failure("use `!` instead of `not`", 5, 8));
        assert_eq!(fail("a not in b"), failure("use `!(x in list)` instead of `x not in list`", 2, 5));
        assert_eq!(fail("(a == 1 and b)"), failure("use `&&` instead of `and`", 8, 11));
    }

    #[test]
    fn missing_operands() {
        assert_eq!(fail("a &&"), failure("expected a value after `&&`", 4, 4));
        assert_eq!(fail("a && "), failure("expected a value after `&&`", 4, 4));
        assert_eq!(fail("a && )"), failure("expected a value after `&&`", 5, 6));
        assert_eq!(fail("a == || b"), failure("expected a value after `==`", 5, 7));
        assert_eq!(fail("a in"), failure("expected a value after `in`", 4, 4));
        assert_eq!(fail("!"), failure("expected a value after `!`", 1, 1));
        assert_eq!(fail("()"), failure("expected a value after `(`", 1, 2));
        assert_eq!(fail("[,]"), failure("expected a value after `[`", 1, 2));
        assert_eq!(fail("[a,,]"), failure("expected a value after `,`", 3, 4));
        assert_eq!(fail("== a"), failure("expected a value before `==`", 0, 2));
        assert_eq!(fail("and a"), failure("expected a value before `and`", 0, 3));
        assert_eq!(fail(")"), failure("expected a value, found `)`", 0, 1));
        assert_eq!(fail(".a"), failure("expected a value, found `.`", 0, 1));
    }

    #[test]
    fn unbalanced_brackets() {
        assert_eq!(fail("(a && b"), failure("expected `)` to close this `(`", 0, 1));
        assert_eq!(fail("x && ((a) || b"), failure("expected `)` to close this `(`", 5, 6));
        assert_eq!(fail("(a b)"), failure("expected an operator or `)`, found `b`", 3, 4));
        assert_eq!(fail("(a]"), failure("expected an operator or `)`, found `]`", 2, 3));
        assert_eq!(fail("x in ['a', 'b'"), failure("expected `]` to close this `[`", 5, 6));
        assert_eq!(fail("[a b]"), failure("expected `,` or `]`, found `b`", 3, 4));
        assert_eq!(fail("[a)"), failure("expected `,` or `]`, found `)`", 2, 3));
        assert_eq!(fail("a)"), failure("unmatched `)`", 1, 2));
        assert_eq!(fail("(a))"), failure("unmatched `)`", 3, 4));
        assert_eq!(fail("a]"), failure("unmatched `]`", 1, 2));
    }

    #[test]
    fn malformed_paths() {
        assert_eq!(fail("steps."), failure("expected a name after `.`", 6, 6));
        assert_eq!(fail("steps. build"), failure("unexpected space after `.`", 6, 7));
        assert_eq!(fail("steps.'a'"), failure("expected a name after `.`, found `'a'`", 6, 9));
        assert_eq!(fail("steps.-a"), failure("unexpected `-`: expressions have no arithmetic", 6, 7));
        assert_eq!(fail("steps[a]"), failure("expected a quoted name after `[`, as in `steps['build.v2']`", 6, 7));
        assert_eq!(fail("steps["), failure("expected a quoted name after `[`, as in `steps['build.v2']`", 6, 6));
        assert_eq!(fail("steps['a'"), failure("expected `]` to close this `[`", 5, 6));
        assert_eq!(fail("steps['a' 'b']"), failure("expected `]` after the name, found `'b'`", 10, 13));
        assert_eq!(fail("steps ['a']"), failure("unexpected `[` after the end of the expression", 6, 7));
    }

    #[test]
    fn trailing_tokens() {
        assert_eq!(fail("a b"), failure("unexpected `b` after the end of the expression", 2, 3));
        assert_eq!(fail("a == 'x' 'y'"), failure("unexpected `'y'` after the end of the expression", 9, 12));
        assert_eq!(fail("3abc"), failure("unexpected `abc` after the end of the expression", 1, 4));
        assert_eq!(fail("1.x"), failure("unexpected `.` after the end of the expression", 1, 2));
        assert_eq!(
            fail("a 'a very long string that goes on and on'"),
            failure("unexpected `'a very long string that…` after the end of the expression", 2, 42)
        );
    }

    #[test]
    fn comparisons_do_not_chain() {
        let message = "comparison operators cannot be chained; use `&&`";
        assert_eq!(fail("a == b == c"), failure(message, 7, 9));
        assert_eq!(fail("a == b != c"), failure(message, 7, 9));
        assert_eq!(fail("a < b <= c"), failure(message, 6, 8));
        assert_eq!(fail("a in b in c"), failure(message, 7, 9));
    }

    #[test]
    fn nesting_is_limited() {
        let message = "expression is nested too deeply (the limit is 64 levels)";
        let ok = format!("{}a{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert_eq!(show(&ok), "a");
        let deep = format!("{}a{}", "(".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1));
        assert_eq!(fail(&deep), failure(message, 64, 65));
        assert_eq!(fail(&format!("{}a", "!".repeat(MAX_NESTING + 1))), failure(message, 64, 65));
        assert_eq!(fail(&format!("{}a", "[".repeat(MAX_NESTING + 1))), failure(message, 64, 65));
        assert_eq!(fail(&"(".repeat(10_000)), failure(message, 64, 65));
        assert_eq!(fail(&"!".repeat(10_000)), failure(message, 64, 65));
        assert_eq!(fail(&"[".repeat(10_000)), failure(message, 64, 65));
        assert_eq!(fail(&"!(".repeat(10_000)), failure(message, 64, 65));
    }

    #[test]
    fn long_chains_are_limited() {
        let ok = vec!["a"; MAX_OPERATORS + 1].join(" && ");
        assert!(parse(&ok).is_ok());
        let long = vec!["a"; 10_000].join(" && ");
        let (message, start, end) = fail(&long);
        assert_eq!(message, "expression has too many operators (the limit is 256)");
        assert_eq!(&long[start..end], "&&");
        let items = vec!["'x'"; 10_000].join(", ");
        assert!(parse(&format!("a in [{items}]")).is_ok());
    }

    #[test]
    fn display_parses_back_to_the_same_tree() {
        for source in [
            "steps.a.status == 'succeeded' && env.DRY_RUN != '1' || !(inputs.x in ['a', \"b'c\", 3, -0.5, null, true])",
            "steps['a.b']['c\\\\d'].e-f < 'x\\ty' == false",
            "[[], [[]], ['\\n']]",
        ] {
            let once = show(source);
            assert_eq!(show(&once), once);
        }
    }

    /// Checks that every span in the result lies in the source, on `char` boundaries, and that what
    /// parses prints in a form that parses back to the same thing.
    fn check_parse(source: &str) {
        let check = |span: Span| {
            assert!(span.start <= span.end && span.end <= source.len(), "{span:?} outside {source:?}");
            assert!(source.is_char_boundary(span.start) && source.is_char_boundary(span.end), "{span:?} in {source:?}");
        };
        match parse(source) {
            Err(error) => check(error.span),
            Ok(expr) => {
                for node in expr.walk() {
                    check(node.span);
                    match &node.kind {
                        ExprKind::Binary { op_span, .. } => check(*op_span),
                        ExprKind::Path(segments) => segments.iter().for_each(|segment| check(segment.span)),
                        _ => {}
                    }
                }
                assert_eq!(expr.span.end, source.trim_end().len(), "{source:?}");
                assert_eq!(expr.span.start, source.len() - source.trim_start().len(), "{source:?}");
            }
        }
    }

    const VALID: [&str; 4] = [
        "steps.clarify.status == 'succeeded' && env.DRY_RUN != '1'",
        "stage.id in ['deploy', 'production_release']",
        "!(steps.build.outputs.version == '')",
        "steps['build.v2'].status in [\"failed\", 'timed_out'] || x >= -1.5",
    ];

    /// Applies `edits` to `source`: each inserts a piece of text or deletes a few characters.
    fn edit(source: &str, edits: &[(usize, bool, String)]) -> String {
        let mut chars: Vec<char> = source.chars().collect();
        for (at, insert, text) in edits {
            let at = at % (chars.len() + 1);
            if *insert {
                chars.splice(at..at, text.chars());
            } else {
                let end = (at + text.chars().count()).min(chars.len());
                chars.drain(at..end);
            }
        }
        chars.into_iter().collect()
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(source in any::<String>()) {
            check_parse(&source);
        }

        #[test]
        fn text_made_of_expression_characters_never_panics(source in "[a-z0-9_.'\"()\\[\\]!=<>&|, \\\\\\-é\n]{0,40}") {
            check_parse(&source);
        }

        #[test]
        fn edited_expressions_never_panic(
            which in 0..VALID.len(),
            edits in prop::collection::vec((any::<usize>(), any::<bool>(), "[a-z.'\"()\\[\\]!=&|, \\\\é-]{1,3}"), 1..4),
        ) {
            check_parse(&edit(VALID[which], &edits));
        }
    }
}
