//! Conversion between byte offsets and line/column positions.
//!
//! Everything below the protocol edge works in byte offsets. This module is the one place that turns
//! them into the positions people and clients see: columns counted in characters (Unicode scalar
//! values) for the command line, and in UTF-16 or UTF-8 code units for LSP clients. Lines end at
//! `\n`, `\r\n` or a lone `\r`, as in YAML and LSP.

use std::collections::HashMap;

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

impl ColumnEncoding {
    fn width(self, c: char) -> u32 {
        match self {
            ColumnEncoding::Utf8 => c.len_utf8() as u32,
            ColumnEncoding::Utf16 => c.len_utf16() as u32,
            ColumnEncoding::Chars => 1,
        }
    }
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
    /// Byte offset of the start of each line.
    starts: Vec<u32>,
    /// For lines with non-ASCII characters: each such character's byte offset in its line and
    /// its UTF-8 length. ASCII lines, the common case, need nothing to convert.
    wide: HashMap<u32, Vec<(u32, u8)>>,
    len: u32,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        let mut wide: HashMap<u32, Vec<(u32, u8)>> = HashMap::new();
        let bytes = text.as_bytes();
        let mut line_start = 0usize;
        let mut index = 0usize;
        while index < bytes.len() {
            let byte = bytes[index];
            if byte == b'\n' || (byte == b'\r' && bytes.get(index + 1) != Some(&b'\n')) {
                line_start = index + 1;
                starts.push(line_start as u32);
                index += 1;
            } else if byte < 0x80 {
                index += 1;
            } else {
                let length = utf8_length(byte);
                wide.entry((starts.len() - 1) as u32).or_default().push(((index - line_start) as u32, length as u8));
                index += length;
            }
        }
        LineIndex { starts, wide, len: text.len() as u32 }
    }

    /// The position of a byte offset; an offset past the end is clamped to the end.
    pub fn position(&self, offset: usize, encoding: ColumnEncoding) -> Position {
        let offset = offset.min(self.len as usize) as u32;
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        let byte_column = offset - self.starts[line];
        let column = match (encoding, self.wide.get(&(line as u32))) {
            (ColumnEncoding::Utf8, _) | (_, None) => byte_column,
            (_, Some(wide)) => {
                let mut column = byte_column;
                for &(at, length) in wide.iter().take_while(|(at, _)| *at < byte_column) {
                    let _ = at;
                    let units = if encoding == ColumnEncoding::Utf16 && length == 4 { 2 } else { 1 };
                    column -= u32::from(length) - units;
                }
                column
            }
        };
        Position { line: line as u32, column }
    }

    /// The byte offset of a position in `text` (the text this index was made from), or `None` when
    /// the line is outside the text. A column past the end of its line is clamped to the end of the
    /// line, before its terminator, as LSP requires; a column inside a character moves to its start.
    pub fn offset(&self, text: &str, position: Position, encoding: ColumnEncoding) -> Option<usize> {
        let line = self.line_span(position.line, text)?;
        let mut column = 0u32;
        for (index, c) in text[line.start..line.end].char_indices() {
            let width = encoding.width(c);
            if column + width > position.column {
                return Some(line.start + index);
            }
            column += width;
        }
        Some(line.end)
    }

    pub fn span_start_end(&self, span: Span, encoding: ColumnEncoding) -> (Position, Position) {
        (self.position(span.start, encoding), self.position(span.end, encoding))
    }

    /// The byte range of a zero-based line, without its line terminator.
    pub fn line_span(&self, line: u32, text: &str) -> Option<Span> {
        let start = *self.starts.get(line as usize)? as usize;
        let mut end = self.starts.get(line as usize + 1).map_or(self.len as usize, |&next| next as usize);
        let bytes = text.as_bytes();
        while end > start && matches!(bytes.get(end - 1), Some(b'\n' | b'\r')) {
            end -= 1;
        }
        Some(Span::new(start, end))
    }

    pub fn line_count(&self) -> u32 {
        self.starts.len() as u32
    }
}

fn utf8_length(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        _ => 2,
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

    #[test]
    fn a_lone_carriage_return_ends_a_line() {
        let text = "a: 1\rb: 2\r\nc: 3\n";
        let index = LineIndex::new(text);
        assert_eq!(index.position(text.find('b').unwrap(), ColumnEncoding::Utf16), Position { line: 1, column: 0 });
        assert_eq!(index.position(text.find('c').unwrap(), ColumnEncoding::Utf16), Position { line: 2, column: 0 });
        assert_eq!(index.line_count(), 4);
        assert_eq!(index.line_span(0, text), Some(Span::new(0, 4)));
    }

    #[test]
    fn positions_past_the_end_are_clamped() {
        let text = "ab\ncd";
        let index = LineIndex::new(text);
        assert_eq!(index.offset(text, Position { line: 0, column: 99 }, ColumnEncoding::Utf16), Some(2));
        assert_eq!(index.offset(text, Position { line: 9, column: 0 }, ColumnEncoding::Utf16), None);
        assert_eq!(index.position(99, ColumnEncoding::Chars), Position { line: 1, column: 2 });
        // A UTF-16 column inside a surrogate pair moves to the character's start.
        let text = "🦀x";
        let index = LineIndex::new(text);
        assert_eq!(index.offset(text, Position { line: 0, column: 1 }, ColumnEncoding::Utf16), Some(0));
        assert_eq!(index.offset(text, Position { line: 0, column: 2 }, ColumnEncoding::Utf16), Some(4));
    }
}
