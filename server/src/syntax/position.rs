//! Conversion between byte offsets and line/column positions.
//!
//! Everything below the protocol edge works in byte offsets. This module is the one place that turns
//! them into the positions people and clients see: columns counted in characters (Unicode scalar
//! values) for the command line, and in UTF-16 or UTF-8 code units for LSP clients.

use line_index::{LineCol, TextSize, WideEncoding};

use super::Span;

/// How a column is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnEncoding {
    /// Bytes of UTF-8.
    Utf8,
    /// UTF-16 code units: the LSP default.
    Utf16,
    /// Unicode scalar values: what the command line shows.
    Chars,
}

/// A zero-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// Line starts of one text, for fast offset ↔ position conversion.
#[derive(Clone, Debug)]
pub struct LineIndex {
    inner: line_index::LineIndex,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        LineIndex { inner: line_index::LineIndex::new(text), len: text.len() }
    }

    /// The position of a byte offset; an offset past the end is clamped to the end.
    pub fn position(&self, offset: usize, encoding: ColumnEncoding) -> Position {
        let offset = offset.min(self.len);
        let line_col = self.inner.line_col(TextSize::new(offset as u32));
        let column = match encoding {
            ColumnEncoding::Utf8 => line_col.col,
            ColumnEncoding::Utf16 => self.wide_col(WideEncoding::Utf16, line_col),
            ColumnEncoding::Chars => self.wide_col(WideEncoding::Utf32, line_col),
        };
        Position { line: line_col.line, column }
    }

    /// The byte offset of a position in `text` (the text this index was made from), or `None` when
    /// the line is outside the text. A column past the end of its line is clamped to the end of the
    /// line, before its terminator, as LSP requires.
    pub fn offset(&self, text: &str, position: Position, encoding: ColumnEncoding) -> Option<usize> {
        let line_end = self.line_span(position.line, text)?.end;
        let line_col = match encoding {
            ColumnEncoding::Utf8 => LineCol { line: position.line, col: position.column },
            ColumnEncoding::Utf16 | ColumnEncoding::Chars => {
                let wide = if encoding == ColumnEncoding::Utf16 { WideEncoding::Utf16 } else { WideEncoding::Utf32 };
                match self.inner.to_utf8(wide, line_index::WideLineCol { line: position.line, col: position.column }) {
                    Some(line_col) => line_col,
                    None => return Some(line_end),
                }
            }
        };
        let offset = self.inner.offset(line_col).map(usize::from).unwrap_or(line_end).min(line_end);
        // A UTF-8 column may fall inside a character: move back to its start.
        Some((0..=offset).rev().find(|&at| text.is_char_boundary(at)).unwrap_or(0))
    }

    pub fn span_start_end(&self, span: Span, encoding: ColumnEncoding) -> (Position, Position) {
        (self.position(span.start, encoding), self.position(span.end, encoding))
    }

    /// The byte range of a zero-based line, without its line terminator.
    pub fn line_span(&self, line: u32, text: &str) -> Option<Span> {
        let range = self.inner.line(line)?;
        let (start, mut end) = (usize::from(range.start()), usize::from(range.end()));
        let bytes = text.as_bytes();
        while end > start && matches!(bytes.get(end - 1), Some(b'\n' | b'\r')) {
            end -= 1;
        }
        Some(Span::new(start, end))
    }

    pub fn line_count(&self) -> u32 {
        self.inner.line_col(TextSize::new(self.len as u32)).line + 1
    }

    fn wide_col(&self, encoding: WideEncoding, line_col: LineCol) -> u32 {
        self.inner.to_wide(encoding, line_col).map_or(line_col.col, |wide| wide.col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_in_chars_and_utf16_after_emoji_and_cjk() {
        let text = "a: \"🦀漢\"\nb: c\r\nd: 字x\n";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap();
        assert_eq!(index.position(x, ColumnEncoding::Chars), Position { line: 2, column: 4 });
        assert_eq!(index.position(x, ColumnEncoding::Utf16), Position { line: 2, column: 4 });
        assert_eq!(index.position(x, ColumnEncoding::Utf8), Position { line: 2, column: 6 });
        let quote = text.rfind('"').unwrap();
        assert_eq!(index.position(quote, ColumnEncoding::Chars), Position { line: 0, column: 6 });
        assert_eq!(index.position(quote, ColumnEncoding::Utf16), Position { line: 0, column: 7 });
        let c = text.find('c').unwrap();
        assert_eq!(index.position(c, ColumnEncoding::Chars), Position { line: 1, column: 3 });
        for encoding in [ColumnEncoding::Utf8, ColumnEncoding::Utf16, ColumnEncoding::Chars] {
            for offset in [x, quote, c] {
                assert_eq!(index.offset(text, index.position(offset, encoding), encoding), Some(offset));
            }
        }
        assert_eq!(index.line_span(1, text), Some(Span::new(13, 17)));
    }
}
