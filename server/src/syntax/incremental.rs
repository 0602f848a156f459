//! Reparsing only the item of a list that an edit touched.
//!
//! A keystroke in a 10,000-stage workflow changes one stage, yet parsing the whole file again costs
//! tens of milliseconds. When the edit lies inside one item of a block sequence that is a value of
//! the top-level mapping (a stage under `stages:`, a step under `steps:`), that item's lines are
//! parsed alone, its subtree is put in place of the old one, and every span after it is shifted.
//!
//! The item's lines are parsed alone only when that is sure to give what a parse of the whole text
//! would: the old tree came from an error-free parse without anchors or aliases; the new lines start
//! with the item's `-` at its old column; every other line of them is blank, a comment, or indented
//! deeper than the `-`; they end where a line of the old text that ends the item begins; and they
//! parse, without errors, anchors or aliases, into a list of exactly one item. Indentation decides
//! where a block item ends in YAML, so under these conditions the item reads the same alone as in
//! its file. Anything else gets a whole parse.

use super::yaml::{map_spans, parse_whole as parse, Parse};
use super::{Node, NodeKind, ScalarStyle, Span};

/// Updates `parse`, the parse of `old`, to be the parse of `new`, when the difference between the
/// texts lies inside one item of a top-level block sequence. Returns false, leaving `parse` as it
/// was, when the whole text must be parsed instead.
pub fn reparse(parse: &mut Parse, old: &str, new: &str) -> bool {
    if !parse.self_contained {
        return false;
    }
    let Some((start, old_end, new_end)) = difference(old, new) else {
        return true; // The same text.
    };
    let Some(root) = parse.root.as_mut() else { return false };
    let Some((entry, items)) = top_level_list(old, root, start) else { return false };
    // The last item whose line starts at or before the edit; or, for an edit right where an item
    // begins (a line added after the item before it), that one.
    let after = items.partition_point(|item| line_start(old, item.span.start) <= start);
    let change = Change { start, old_end, new_end };
    let Some((index, region, new_region_end, item)) = (after.saturating_sub(2)..after)
        .rev()
        .find_map(|index| reparse_item(old, new, &items[index], &change).map(|(r, e, item)| (index, r, e, item)))
    else {
        return false;
    };

    // Everything checked: put the new item in place and move what follows.
    let grown = new_region_end as isize - region.end as isize;
    let moved = move |offset: usize| if offset >= region.end { offset.saturating_add_signed(grown) } else { offset };
    edit_list(root, entry, moved, |items| {
        items[index] = item;
        for later in &mut items[index + 1..] {
            shift(later, moved);
        }
    });
    true
}

/// The top-level block list that `offset` lies in: the entry of the (block) root mapping that
/// starts last before it, when its value is a block sequence. The entry's index and the list's items.
pub(super) fn top_level_list<'a>(text: &str, root: &'a Node, offset: usize) -> Option<(usize, &'a [Node])> {
    if is_flow(text, root.span) {
        return None;
    }
    let entries = root.as_mapping()?;
    let entry = entries.partition_point(|(key, _)| key.span.start < offset).checked_sub(1)?;
    let list = &entries[entry].1;
    if is_flow(text, list.span) {
        return None;
    }
    Some((entry, list.as_sequence()?))
}

/// Changes the items of the top-level list found by [`top_level_list`] with `edit`, then moves every
/// entry after the list by `moved`, and ends the list and the root mapping at their last values
/// again (as the tree builder ends block collections).
pub(super) fn edit_list(
    root: &mut Node,
    entry: usize,
    moved: impl Fn(usize) -> usize + Copy,
    edit: impl FnOnce(&mut Vec<Node>),
) {
    let NodeKind::Mapping(entries) = &mut root.kind else { return };
    let (_, list) = &mut entries[entry];
    if let NodeKind::Sequence(items) = &mut list.kind {
        edit(items);
        list.span.end = items.last().map_or(list.span.end, |last| last.span.end.max(list.span.start));
    }
    for (key, value) in &mut entries[entry + 1..] {
        shift(key, moved);
        shift(value, moved);
    }
    root.span.end = entries.iter().map(|(_, value)| value.span.end).max().unwrap_or(root.span.end).max(root.span.start);
}

/// Where an edit lies: `start..old_end` in the old text became `start..new_end` in the new one.
struct Change {
    start: usize,
    old_end: usize,
    new_end: usize,
}

/// The new subtree of `item` when the change lies inside its lines and they can be read alone, with
/// the item's old region and where that region ends in the new text.
fn reparse_item(old: &str, new: &str, item: &Node, change: &Change) -> Option<(Region, usize, Node)> {
    let region = item_region(old, item)?;
    if change.start < region.start || change.old_end > region.end {
        return None;
    }
    if has_lone_carriage_return(&old[region.start..region.end]) {
        return None;
    }
    let new_region_end = region.end + change.new_end - change.old_end;
    let fragment = &new[region.start..new_region_end];
    if !lines_stay_in_item(fragment, region.dash_column, new_region_end == new.len()) {
        return None;
    }
    let mut item = parse_fragment(fragment)?;
    if !ends_in(&item, fragment) {
        return None;
    }
    let offset = region.start;
    shift(&mut item, |at| at + offset);
    Some((region, new_region_end, item))
}

/// A subtree parsed from `text` alone ends where it would inside its file: before the text's
/// trailing blanks, and not with an empty value (`? key` with no value, `key: |` with no lines),
/// which saphyr places at the next token, beyond `text`: only a whole parse knows where that is.
pub(super) fn ends_in(node: &Node, text: &str) -> bool {
    node.span.end <= text.trim_end().len() && !ends_with_empty_value(node)
}

/// The last value in the item, by position, is empty: a null or an empty block scalar.
pub(super) fn ends_with_empty_value(item: &Node) -> bool {
    let mut node = item;
    loop {
        node = match &node.kind {
            NodeKind::Mapping(entries) => match entries.iter().max_by_key(|(key, _)| key.span.start) {
                Some((_, value)) => value,
                None => return false,
            },
            NodeKind::Sequence(items) => match items.last() {
                Some(last) => last,
                None => return false,
            },
            NodeKind::Null => return true,
            NodeKind::String(value, ScalarStyle::Literal | ScalarStyle::Folded) => return value.is_empty(),
            _ => return node.span.is_empty(),
        };
    }
}

/// Where two texts differ: the first differing byte, and where the differing part ends in the old
/// and in the new text, all on `char` boundaries. `None` for equal texts.
fn difference(old: &str, new: &str) -> Option<(usize, usize, usize)> {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let shorter = a.len().min(b.len());
    // Compared in blocks (a `memcmp` each) before byte by byte: the texts are megabytes long.
    const BLOCK: usize = 256;
    let mut prefix = 0;
    while prefix + BLOCK <= shorter && a[prefix..prefix + BLOCK] == b[prefix..prefix + BLOCK] {
        prefix += BLOCK;
    }
    while prefix < shorter && a[prefix] == b[prefix] {
        prefix += 1;
    }
    if prefix == a.len() && prefix == b.len() {
        return None;
    }
    while !old.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let limit = shorter - prefix;
    let mut suffix = 0;
    while suffix + BLOCK <= limit
        && a[a.len() - suffix - BLOCK..a.len() - suffix] == b[b.len() - suffix - BLOCK..b.len() - suffix]
    {
        suffix += BLOCK;
    }
    while suffix < limit && a[a.len() - 1 - suffix] == b[b.len() - 1 - suffix] {
        suffix += 1;
    }
    while !old.is_char_boundary(a.len() - suffix) || !new.is_char_boundary(b.len() - suffix) {
        suffix -= 1;
    }
    Some((prefix, a.len() - suffix, b.len() - suffix))
}

/// The lines that belong to one item of a block sequence.
pub(super) struct Region {
    /// The start of the line of the item's `-`.
    pub start: usize,
    /// The start of the first line after the item that is neither blank nor a comment (the next
    /// item's `-`, or a less indented key), or the end of the text.
    pub end: usize,
    /// The column of the `-`, in bytes (the line before it is spaces only).
    pub dash_column: usize,
}

pub(super) fn item_region(text: &str, item: &Node) -> Option<Region> {
    let start = line_start(text, item.span.start);
    // The item begins on its dash's line: `<spaces>-<spaces><item>`.
    let before = &text[start..item.span.start];
    let dash_column = before.len() - before.trim_start_matches(' ').len();
    let after_dash = before[dash_column..].strip_prefix('-')?;
    if after_dash.is_empty() || !after_dash.bytes().all(|b| b == b' ') {
        return None;
    }
    // The first line after the item's last value that has something besides blanks and comments.
    let mut end = match text[item.span.end..].find('\n') {
        _ if item.span.end > 0 && text.as_bytes()[item.span.end - 1] == b'\n' => item.span.end,
        Some(newline) => item.span.end + newline + 1,
        None => text.len(),
    };
    while end < text.len() {
        let line_end = text[end..].find('\n').map_or(text.len(), |newline| end + newline + 1);
        let content = text[end..line_end].trim();
        if !content.is_empty() && !content.starts_with('#') {
            break;
        }
        end = line_end;
    }
    if end < text.len() && indentation(&text[end..]) > dash_column {
        return None;
    }
    Some(Region { start, end, dash_column })
}

/// The new text of an item's lines belongs to that item alone: its first line is the item's `-` at
/// `dash_column`, every other line is blank, a comment or indented deeper, no indentation holds a
/// tab, and it ends at a line break (unless it ends the file).
fn lines_stay_in_item(fragment: &str, dash_column: usize, at_end_of_text: bool) -> bool {
    if !at_end_of_text && !fragment.ends_with('\n') {
        return false;
    }
    let mut lines = fragment.split_inclusive('\n');
    let Some(first) = lines.next() else { return false };
    if indentation(first) != dash_column {
        return false;
    }
    let first_rest = &first[dash_column..];
    if !(first_rest.starts_with("- ") || first_rest.starts_with("-\n")) || has_lone_carriage_return(fragment) {
        return false;
    }
    lines.all(|line| {
        let leading = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        let content = line.trim();
        content.is_empty() || (!leading.contains('\t') && (content.starts_with('#') || indentation(line) > dash_column))
    })
}

/// A `\r` not followed by `\n` breaks a line for YAML, but not for the line checks here.
pub(super) fn has_lone_carriage_return(text: &str) -> bool {
    text.match_indices('\r').any(|(at, _)| !text[at + 1..].starts_with('\n'))
}

/// Parses an item's lines alone; the item when they read as a list of exactly that one item, with
/// no errors, anchors or aliases.
fn parse_fragment(fragment: &str) -> Option<Node> {
    let parse = parse(fragment);
    if !parse.self_contained {
        return None;
    }
    match parse.root?.kind {
        NodeKind::Sequence(mut items) if items.len() == 1 => items.pop(),
        _ => None,
    }
}

fn is_flow(text: &str, span: Span) -> bool {
    matches!(text.as_bytes().get(span.start), Some(b'[' | b'{'))
}

/// The start of the line that holds byte `offset` (which need not be on a `char` boundary).
pub(super) fn line_start(text: &str, offset: usize) -> usize {
    let bytes = &text.as_bytes()[..offset.min(text.len())];
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |newline| newline + 1)
}

/// The number of spaces a line starts with.
pub(super) fn indentation(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Applies `change` to both ends of every span of a tree.
pub(super) fn shift(root: &mut Node, change: impl Fn(usize) -> usize) {
    map_spans(root, |span| Span::new(change(span.start), change(span.end)));
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKFLOW: &str = "\
name: demo
stages:
  - id: plan
    script: tool
    with:
      note: |
        keep this

  # a comment between stages
  - id: build
    depends_on: [plan]
  - id: test
    depends_on: [build]
env:
  A: b
";

    /// Reparses `old` into `new` in place and checks the result equals a whole parse of `new`.
    fn reparsed(old: &str, new: &str) -> bool {
        let mut incremental = parse(old);
        let done = reparse(&mut incremental, old, new);
        if done {
            let whole = parse(new);
            assert_eq!(incremental.root, whole.root, "reparse of {new:?} differs from a whole parse");
            assert_eq!(incremental.errors, whole.errors);
        } else {
            assert_eq!(incremental.root, parse(old).root, "a refused reparse must leave the tree alone");
        }
        done
    }

    fn edit(text: &str, find: &str, replace: &str) -> String {
        assert!(text.contains(find), "{find:?} not in the text");
        text.replacen(find, replace, 1)
    }

    #[test]
    fn an_edit_inside_one_stage_is_reparsed_alone() {
        assert!(reparsed(WORKFLOW, &edit(WORKFLOW, "id: build", "id: builds")));
        assert!(reparsed(WORKFLOW, &edit(WORKFLOW, "depends_on: [plan]", "depends_on: [plan, x]")));
        assert!(reparsed(WORKFLOW, &edit(WORKFLOW, "keep this", "keep that\n        and more")));
        assert!(reparsed(WORKFLOW, &edit(WORKFLOW, "id: test", "id: test\n    retries: 2")));
        assert!(reparsed(WORKFLOW, &edit(WORKFLOW, "    script: tool\n", "")));
        assert!(reparsed(WORKFLOW, &edit(WORKFLOW, "# a comment", "# another comment")));
    }

    #[test]
    fn edits_that_change_the_structure_parse_the_whole_text() {
        // A new item, a removed dash, a line that leaves the item, an item split in two.
        assert!(!reparsed(WORKFLOW, &edit(WORKFLOW, "  - id: build", "    id: build")));
        assert!(!reparsed(WORKFLOW, &edit(WORKFLOW, "    depends_on: [plan]", "depends_on: [plan]")));
        assert!(!reparsed(WORKFLOW, &edit(WORKFLOW, "    depends_on: [plan]", "  - depends_on: [plan]")));
        assert!(!reparsed(WORKFLOW, &edit(WORKFLOW, "id: build", "id: &b build")));
        assert!(!reparsed(WORKFLOW, &edit(WORKFLOW, "id: build", "id: \"build")));
        // Across two items, and outside any item.
        assert!(!reparsed(WORKFLOW, &edit(WORKFLOW, "[plan]\n  - id: test", "[plan, test]")));
        assert!(!reparsed(WORKFLOW, &edit(WORKFLOW, "name: demo", "name: demos")));
        assert!(!reparsed(WORKFLOW, &edit(WORKFLOW, "A: b", "A: c")));
    }

    #[test]
    fn the_last_item_and_the_keys_after_it_move() {
        let new = edit(WORKFLOW, "depends_on: [build]", "depends_on: [build, plan]");
        assert!(reparsed(WORKFLOW, &new));
        let at_end = "stages:\n  - id: a\n  - id: b\n";
        assert!(reparsed(at_end, &edit(at_end, "id: b", "id: bee")));
        assert!(reparsed(at_end, "stages:\n  - id: a\n  - id: b\n    retries: 1"));
        let no_newline = "stages:\n  - id: a\n  - id: b";
        assert!(reparsed(no_newline, &edit(no_newline, "id: b", "id: bc")));
    }

    #[test]
    fn a_tree_with_errors_or_aliases_is_never_patched() {
        let broken = "stages:\n  - id: a\n    x: [\n  - id: b\n";
        assert!(!reparsed(broken, &edit(broken, "id: b", "id: c")));
        let aliased = "stages:\n  - &a {id: a}\n  - id: b\n";
        assert!(!reparsed(aliased, &edit(aliased, "id: b", "id: c")));
        let open_key = "stages:\n  - id: a\n    with:\n      note: x\n  - id: b\n";
        assert!(!reparsed(open_key, &edit(open_key, "      note", "    ?  note")));
        assert!(!reparsed(open_key, &edit(open_key, "note: x", "note: |2")));
        let merged = "stages:\n  - id: a\n  - id: b\n<<: {x: 1}\n";
        assert!(!reparsed(merged, &edit(merged, "id: b", "id: c")));
    }

    #[test]
    fn multibyte_text_keeps_char_boundaries() {
        let text = "stages:\n  - id: a\n    name: \"日本\"\n  - id: b\n";
        assert!(reparsed(text, &edit(text, "日本", "日本語")));
        assert!(reparsed(text, &edit(text, "日本", "日ほ")));
    }

    #[test]
    fn difference_finds_the_changed_bytes() {
        assert_eq!(difference("abc", "abc"), None);
        assert_eq!(difference("abc", "abxc"), Some((2, 2, 3)));
        assert_eq!(difference("abc", "ac"), Some((1, 2, 1)));
        assert_eq!(difference("日本", "日ほ"), Some((3, 6, 6)));
        let long = "x".repeat(1000);
        assert_eq!(difference(&long, &format!("{long}y")), Some((1000, 1000, 1001)));
    }
}
