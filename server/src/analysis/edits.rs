//! Text edits on YAML and JSON lists, for quick fixes: add an item, remove an item, replace a value.
//! They work on the spanned tree and the source text, and keep the file's own style (flow or block).

use crate::syntax::{Node, NodeKind, Span};

use super::{Edit, Fix, Location};

/// Replaces a value, in the diagnostic's own file.
pub fn replace(span: Span, new_text: &str, title: impl Into<String>) -> Fix {
    Fix {
        title: title.into(),
        edits: vec![Edit { location: Location { file: None, span }, new_text: new_text.to_owned() }],
        safe: false,
    }
}

/// Adds `value` to the list under `key` in the mapping `owner` (a stage), creating the list when
/// there is none. `None` when the file's layout is too unusual to edit safely.
pub fn add_to_list(source: &str, owner: &Node, key: &str, value: &str, title: impl Into<String>) -> Option<Fix> {
    let json = is_json_like(source, owner);
    let quoted = if json { format!("\"{value}\"") } else { value.to_owned() };
    let edit = match owner.entry(key) {
        Some((_, list)) => match &list.kind {
            NodeKind::Sequence(items) if is_flow(source, list) => {
                let close = list.span.end.checked_sub(1).filter(|&at| source.as_bytes().get(at) == Some(&b']'))?;
                let text = if items.is_empty() { quoted } else { format!(", {quoted}") };
                let at = items.last().map_or(close, |last| last.span.end);
                Edit { location: Location { file: None, span: Span::empty(at) }, new_text: text }
            }
            NodeKind::Sequence(items) if !items.is_empty() => {
                let last = items.last()?;
                let dash = source[..last.span.start].rfind('-')?;
                let indent = column(source, dash);
                let at = line_end(source, last.span.end);
                Edit {
                    location: Location { file: None, span: Span::empty(at) },
                    new_text: format!("\n{}- {quoted}", " ".repeat(indent)),
                }
            }
            // `depends_on:` with no value yet, or a lone scalar: write a flow list.
            _ => Edit { location: Location { file: None, span: list.span }, new_text: format!("[{quoted}]") },
        },
        None => {
            let (first_key, _) = owner.as_mapping()?.first()?;
            let (last_key, last_value) = owner.as_mapping()?.last()?;
            if json || is_flow(source, owner) {
                let at = last_value.span.end;
                let text = if json { format!(", \"{key}\": [{quoted}]") } else { format!(", {key}: [{quoted}]") };
                Edit { location: Location { file: None, span: Span::empty(at) }, new_text: text }
            } else {
                let indent = column(source, first_key.span.start);
                let _ = last_key;
                let at = line_end(source, last_value.span.end.max(first_key.span.end));
                Edit {
                    location: Location { file: None, span: Span::empty(at) },
                    new_text: format!("\n{}{key}: [{quoted}]", " ".repeat(indent)),
                }
            }
        }
    };
    Some(Fix { title: title.into(), edits: vec![edit], safe: false })
}

/// Removes item `index` of a list, with its separator (flow) or its line (block).
pub fn remove_from_list(source: &str, list: &Node, index: usize, title: impl Into<String>) -> Option<Fix> {
    let items = list.as_sequence()?;
    let item = items.get(index)?;
    let span = if is_flow(source, list) {
        if let Some(next) = items.get(index + 1) {
            Span::new(item.span.start, next.span.start)
        } else if index > 0 {
            Span::new(items[index - 1].span.end, item.span.end)
        } else {
            item.span
        }
    } else {
        let start = line_start(source, item.span.start);
        let end = line_end(source, item.span.end);
        let end = if source[end..].starts_with("\r\n") {
            end + 2
        } else if source[end..].starts_with('\n') {
            end + 1
        } else {
            end
        };
        Span::new(start, end)
    };
    Some(Fix {
        title: title.into(),
        edits: vec![Edit { location: Location { file: None, span }, new_text: String::new() }],
        safe: false,
    })
}

fn is_flow(source: &str, node: &Node) -> bool {
    matches!(source.as_bytes().get(node.span.start), Some(b'[' | b'{'))
}

/// A file written in JSON style: keys quoted with double quotes.
fn is_json_like(source: &str, owner: &Node) -> bool {
    owner
        .as_mapping()
        .and_then(|entries| entries.first())
        .is_some_and(|(key, _)| source.as_bytes().get(key.span.start) == Some(&b'"'))
}

fn line_start(source: &str, offset: usize) -> usize {
    source[..offset].rfind('\n').map_or(0, |newline| newline + 1)
}

fn line_end(source: &str, offset: usize) -> usize {
    source[offset..].find(['\n', '\r']).map_or(source.len(), |end| offset + end)
}

/// The column of an offset in characters of indentation (the line's leading spaces count one each).
pub fn column(source: &str, offset: usize) -> usize {
    source[line_start(source, offset)..offset].chars().count()
}
