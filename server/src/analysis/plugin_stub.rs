//! The quick fix for `missing-plugin`: a stub plugin added to `weft.yaml`.

use crate::syntax::{NodeKind, Span};

use super::edits::column;
use super::pipeline_checks::ConfigContext;
use super::{Edit, Fix, Location};

pub fn add_plugin_stub(context: &ConfigContext<'_, '_>, name: &str) -> Option<Fix> {
    let text = context.text;
    let body = |indent: &str| {
        format!(
            "{indent}{name}:\n{indent}  description: TODO describe {name}\n{indent}  run: echo \"plugin {name} is not written yet\" >&2; exit 1\n"
        )
    };
    let (at, new_text) = match context.config.plugins_node {
        Some(plugins) => match &plugins.kind {
            NodeKind::Mapping(entries)
                if !entries.is_empty() && text.as_bytes().get(plugins.span.start) != Some(&b'{') =>
            {
                let indent = " ".repeat(column(text, entries[0].0.span.start));
                let last_end = entries.last().map_or(plugins.span.end, |(_, value)| value.span.end);
                let line_end = text[last_end..].find('\n').map_or(text.len(), |newline| last_end + newline);
                let stub = body(&indent);
                (line_end, format!("\n{}", stub.trim_end_matches('\n')))
            }
            NodeKind::Null => {
                let key = context.config.root.key_of("plugins")?;
                let line_end = text[key.span.end..].find('\n').map_or(text.len(), |newline| key.span.end + newline);
                let stub = body("  ");
                (line_end, format!("\n{}", stub.trim_end_matches('\n')))
            }
            _ => return None,
        },
        None => {
            let separator = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
            (text.len(), format!("{separator}plugins:\n{}", body("  ")))
        }
    };
    Some(Fix {
        title: format!("Add a stub plugin `{name}` to weft.yaml"),
        edits: vec![Edit {
            location: Location { file: Some(context.path.to_path_buf()), span: Span::empty(at) },
            new_text,
        }],
        safe: false,
    })
}
