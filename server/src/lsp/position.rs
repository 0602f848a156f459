//! The one place where byte offsets become LSP positions and back, in the negotiated encoding
//! (UTF-16 by default, UTF-8 when the client offers it).

use lsp_types::{Position, Range};

use crate::analysis::SourceFile;
use crate::syntax::{ColumnEncoding, LineIndex, Position as LineColumn, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding(pub ColumnEncoding);

impl Encoding {
    pub fn position(self, index: &LineIndex, offset: usize) -> Position {
        let position = index.position(offset, self.0);
        Position { line: position.line, character: position.column }
    }

    pub fn range(self, index: &LineIndex, span: Span) -> Range {
        Range { start: self.position(index, span.start), end: self.position(index, span.end) }
    }

    pub fn source_range(self, file: &SourceFile, span: Span) -> Range {
        self.range(&file.line_index, span)
    }

    /// The byte offset of a position; positions past the end of a line or the text are clamped,
    /// as the protocol asks.
    pub fn offset(self, index: &LineIndex, text: &str, position: Position) -> usize {
        let line_column = LineColumn { line: position.line, column: position.character };
        match index.offset(text, line_column, self.0) {
            Some(offset) => offset.min(text.len()),
            None => text.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_and_utf8_positions_round_trip_after_emoji_and_cjk() {
        let text = "a: \"🦀\"\nb: [漢字, x]\r\nc: y\n";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap();
        let utf16 = Encoding(ColumnEncoding::Utf16);
        let utf8 = Encoding(ColumnEncoding::Utf8);
        assert_eq!(utf16.position(&index, x), Position { line: 1, character: 8 });
        assert_eq!(utf8.position(&index, x), Position { line: 1, character: 12 });
        assert_eq!(utf16.offset(&index, text, Position { line: 1, character: 8 }), x);
        assert_eq!(utf8.offset(&index, text, Position { line: 1, character: 12 }), x);
        let quote = text.rfind('"').unwrap();
        assert_eq!(utf16.position(&index, quote), Position { line: 0, character: 6 });
        // Past the end of a line: clamped to the line's end, before its terminator.
        let clamped = utf16.offset(&index, text, Position { line: 2, character: 99 });
        assert_eq!(&text[clamped..], "\n");
        assert_eq!(utf16.offset(&index, text, Position { line: 99, character: 0 }), text.len());
    }
}
