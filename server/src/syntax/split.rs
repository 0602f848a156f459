//! Reading a large file on two threads.
//!
//! Parsing is most of what analysing a large workflow costs, and nearly all of such a file is one
//! top-level list: its stages. The text is cut at the line of a stage near its middle. The stages
//! from there to the end of the list (the tail) are parsed on a second thread, as a list of their
//! own; the rest of the file (the head: everything before the cut and everything after the list,
//! joined) is parsed on this one. The tail's stages are then appended to the head's list and the
//! spans after the cut moved.
//!
//! The same conditions as for reparsing one stage (`incremental`) make the result equal to a parse
//! of the whole text: both parts parse without errors, anchors or aliases; every line of the tail
//! is a `-` at the list's column, blank, a comment, or indented deeper; the head's list has the
//! same column and its last item ends right at the cut; and neither part ends in an empty value,
//! whose place depends on the token after it. When any of them fails the whole text is parsed on
//! one thread.

use super::incremental::{
    edit_list, ends_in, ends_with_empty_value, has_lone_carriage_return, indentation, item_region, line_start, shift,
    top_level_list,
};
use super::yaml::{parse_whole, Parse};
use super::NodeKind;

/// Texts from this size on are read on two threads: below it, starting a thread costs more than it
/// saves.
pub const MIN_BYTES: usize = 64 * 1024;

/// The parse of `text` read in two parts, or `None` when it cannot be cut (or the parts do not fit
/// together), and must be read whole.
pub fn parse_in_two(text: &str) -> Option<Parse> {
    let (cut, column) = cut_point(text)?;
    let end = list_end(text, cut, column)?;
    let tail = &text[cut..end];
    if tail.len() < text.len() / 4 || has_lone_carriage_return(tail) {
        return None;
    }
    let head = [&text[..cut], &text[end..]].concat();
    let (mut head_parse, tail_parse) = std::thread::scope(|scope| {
        let tail_parse = std::thread::Builder::new().spawn_scoped(scope, || parse_whole(tail)).ok()?;
        let head_parse = parse_whole(&head);
        Some((head_parse, tail_parse.join().ok()?))
    })?;
    join(&mut head_parse, &head, tail_parse, tail, cut, end, column).then_some(head_parse)
}

/// The start of the first line after the middle of the text that is a list item (`-`) at the
/// column of the file's first list item, and that column.
fn cut_point(text: &str) -> Option<(usize, usize)> {
    let first_item = lines_from(text, 0).find(|&(_, line)| is_item_line(line, indentation(line)))?;
    let column = indentation(first_item.1);
    let middle = line_start(text, text.len() / 2);
    lines_from(text, middle)
        .take_while(|&(at, _)| at < text.len() / 4 * 3)
        .find(|&(_, line)| indentation(line) == column && is_item_line(line, column))
        .map(|(at, _)| (at, column))
}

/// Where the list whose item starts at `cut` ends: the first line that is not an item at `column`,
/// blank, a comment or indented deeper. `None` when an indentation holds a tab.
fn list_end(text: &str, cut: usize, column: usize) -> Option<usize> {
    for (at, line) in lines_from(text, cut) {
        let content = line.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let leading = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        if leading.contains('\t') {
            return None;
        }
        let indented = indentation(line);
        if indented > column || (indented == column && is_item_line(line, column)) {
            continue;
        }
        return Some(at);
    }
    Some(text.len())
}

/// `<column spaces>- …` or a lone `-`.
fn is_item_line(line: &str, column: usize) -> bool {
    let rest = line.get(column..).unwrap_or_default();
    rest.starts_with("- ") || rest.trim_end() == "-"
}

/// The lines of `text` from the line start `from` on, each with its offset and its line break.
fn lines_from(text: &str, from: usize) -> impl Iterator<Item = (usize, &str)> {
    text[from..].split_inclusive('\n').scan(from, |at, line| {
        let start = *at;
        *at += line.len();
        Some((start, line))
    })
}

/// Appends the tail's items to the head's list and moves what follows the cut; false when the two
/// parts do not fit together.
fn join(
    head: &mut Parse,
    head_text: &str,
    tail: Parse,
    tail_text: &str,
    cut: usize,
    end: usize,
    column: usize,
) -> bool {
    if !head.self_contained || !tail.self_contained {
        return false;
    }
    let Some(tail_root) = tail.root else { return false };
    if !ends_in(&tail_root, tail_text) {
        return false;
    }
    let NodeKind::Sequence(mut tail_items) = tail_root.kind else { return false };
    let Some(root) = head.root.as_mut() else { return false };
    // The list the cut is in; its last item must end right at the cut, at the same column.
    let Some((entry, items)) = top_level_list(head_text, root, cut) else { return false };
    let Some(last) = items.last() else { return false };
    if ends_with_empty_value(last) {
        return false;
    }
    match item_region(head_text, last) {
        Some(region) if region.end == cut && region.dash_column == column => {}
        _ => return false,
    }

    for item in &mut tail_items {
        shift(item, |offset| offset + cut);
    }
    let moved = end - cut;
    edit_list(root, entry, move |offset| offset + moved, |items| items.append(&mut tail_items));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workflow of `stages` stages, `extra` bytes of text in each, and keys after the list.
    fn workflow(stages: usize, extra: &str) -> String {
        let mut text = String::from("version: 1\nname: big\nstages:\n");
        for i in 0..stages {
            text.push_str(&format!("  - id: s{i}\n    name: \"{extra}\"\n"));
            if i > 0 {
                text.push_str(&format!("    depends_on: [s{}]\n", i - 1));
            }
            if i % 3 == 0 {
                text.push_str("    with:\n      note: |\n        two\n        lines\n\n  # comment\n");
            }
        }
        text.push_str("env:\n  A: b\nhooks:\n  - on: stage_started\n    run: echo\n");
        text
    }

    #[test]
    fn a_large_workflow_read_in_two_equals_one_read_whole() {
        let text = workflow(2_000, "a stage");
        assert!(text.len() >= MIN_BYTES);
        let two = parse_in_two(&text).expect("the workflow is read in two parts");
        let whole = parse_whole(&text);
        assert_eq!(two.root, whole.root);
        assert!(two.errors.is_empty() && two.complete);
    }

    #[test]
    fn texts_that_cannot_be_cut_are_read_whole() {
        // Errors, anchors, tabs, JSON, and a list that is a small part of the text.
        let text = workflow(2_000, "a stage");
        for broken in [
            text.replacen("id: s1500", "id: [s1500", 1),
            text.replacen("id: s1500", "id: &x s1500", 1),
            text.replacen("id: s20\n", "id: s20\n  \t  x: 1\n", 1).replacen(
                "id: s1500\n",
                "id: s1500\n  \t  x: 1\n",
                1,
            ),
            format!("{{\"stages\": [{}]}}", "{\"id\": \"a\"},".repeat(10_000).trim_end_matches(',')),
            format!("{}\nstages:\n  - id: a\n  - id: b\n", "# comment\n".repeat(10_000)),
        ] {
            assert!(parse_in_two(&broken).is_none());
            let parse = super::super::yaml::parse(&broken);
            assert_eq!(format!("{:?}", parse.root), format!("{:?}", parse_whole(&broken).root));
        }
    }

    /// Cuts the list at every item: each join must equal the whole parse, or be refused. Returns
    /// how many were joined.
    fn join_at_every_cut(text: &str) -> usize {
        let whole = parse_whole(text);
        let mut joined = 0;
        for (cut, line) in lines_from(text, 0) {
            if !is_item_line(line, 2) || indentation(line) != 2 {
                continue;
            }
            let Some(end) = list_end(text, cut, 2) else { continue };
            let head_text = [&text[..cut], &text[end..]].concat();
            let mut head = parse_whole(&head_text);
            let tail = parse_whole(&text[cut..end]);
            if join(&mut head, &head_text, tail, &text[cut..end], cut, end, 2) {
                joined += 1;
                assert_eq!(format!("{:?}", head.root), format!("{:?}", whole.root), "cut at {cut} of {text:?}");
                assert_eq!(head.errors, whole.errors);
            }
        }
        joined
    }

    #[test]
    fn every_cut_point_gives_the_whole_parse() {
        assert!(join_at_every_cut(&workflow(40, "x")) >= 39);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: std::env::var("WEFT_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64),
            failure_persistence: None,
            ..Default::default()
        })]

        /// One typed character anywhere in the file, then every cut.
        #[test]
        fn every_cut_of_an_edited_file_gives_the_whole_parse(
            at in proptest::arbitrary::any::<proptest::sample::Index>(),
            typed in proptest::sample::select("[]{}:-#'\"\t\n ,&*!|>?%@\\a0.\r🦀".chars().collect::<Vec<_>>()),
        ) {
            let mut text = workflow(12, "x");
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            text.insert(boundaries[at.index(boundaries.len())], typed);
            join_at_every_cut(&text);
        }
    }
}
