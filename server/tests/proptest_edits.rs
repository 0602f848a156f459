//! Random edits of real files, as a user makes them while typing.
//!
//! Every YAML and JSON file under `examples/` and `tests/fixtures/check/` gets 1-5 random edits
//! (delete a line, insert a line from another file, duplicate a line, delete a character, insert a
//! character at a character boundary) and is analysed in a [`Workspace`] with its project's
//! `weft.yaml`. The analysis must not panic, every range it reports (diagnostics, related places, fix
//! edits, in whichever file they point) must lie in that file's text on `char` boundaries, and
//! every renderer must print the result.
//!
//! Each property runs 128 cases, a second or so in debug; `WEFT_PROPTEST_CASES=20000 cargo test
//! --test proptest_edits` searches harder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

use weft::analysis::{Diagnostic, SourceFile, Workspace};
use weft::cli::render::{render, Format};
use weft::cli::report::{CheckReport, FileDiagnostics};
use weft::syntax::Span;

/// One file to mutate, with what its analysis needs besides.
struct CorpusFile {
    key: PathBuf,
    text: String,
    /// The nearest `weft.yaml` above it, unless it is one.
    config: Option<(PathBuf, String)>,
    /// For a `weft.yaml`: the workflows and plans in its folder, so `unused-plugin` has users.
    siblings: Vec<(PathBuf, String)>,
}

struct Corpus {
    files: Vec<CorpusFile>,
    /// Every line of every file, to insert elsewhere.
    lines: Vec<String>,
}

fn repository() -> PathBuf {
    weft::cli::files::absolute(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

fn is_yaml_or_json(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
}

fn walk(folder: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder).unwrap().map(|entry| entry.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else if is_yaml_or_json(&path) {
            out.push(path);
        }
    }
}

fn nearest_config(file: &Path, stop: &Path) -> Option<PathBuf> {
    let mut folder = file.parent();
    while let Some(dir) = folder {
        let candidate = dir.join("weft.yaml");
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir == stop {
            return None;
        }
        folder = dir.parent();
    }
    None
}

static CORPUS: LazyLock<Corpus> = LazyLock::new(|| {
    let root = repository();
    let mut paths = Vec::new();
    for folder in ["examples", "tests/fixtures/check"] {
        walk(&root.join(folder), &mut paths);
    }
    let read = |path: &Path| std::fs::read_to_string(path).unwrap();
    let mut files = Vec::new();
    let mut lines = Vec::new();
    for path in &paths {
        let text = read(path);
        lines.extend(text.split_inclusive('\n').map(|line| {
            if line.ends_with('\n') {
                line.to_owned()
            } else {
                format!("{line}\n")
            }
        }));
        let is_config = path.file_name().is_some_and(|name| name == "weft.yaml");
        let config = if is_config { None } else { nearest_config(path, &root).map(|c| (c.clone(), read(&c))) };
        let siblings = if is_config {
            paths
                .iter()
                .filter(|other| other.parent() == path.parent() && *other != path)
                .map(|other| (other.clone(), read(other)))
                .collect()
        } else {
            Vec::new()
        };
        files.push(CorpusFile { key: path.clone(), text, config, siblings });
    }
    assert!(files.len() >= 15, "the corpus has every example and fixture: {}", files.len());
    assert!(files.iter().any(|f| f.key.extension().is_some_and(|e| e == "json")), "a JSON file is in the corpus");
    Corpus { files, lines }
});

#[derive(Clone, Debug)]
enum Edit {
    DeleteLine(Index),
    /// Insert line `.1` of the corpus before line `.0`.
    InsertLine(Index, Index),
    DuplicateLine(Index),
    DeleteChar(Index),
    InsertChar(Index, char),
}

/// The characters a typing user or a bad paste brings in. `unicode` adds multi-byte ones.
fn typed_char(unicode: bool) -> BoxedStrategy<char> {
    let ascii = prop::sample::select(vec![
        '[', ']', '{', '}', ':', '-', '#', '\'', '"', '\t', '\n', ' ', ',', '&', '*', '!', '|', '>', '\r', 'a', '0',
        '.', '%', '@', '?', '\\',
    ]);
    if unicode {
        prop_oneof![
            3 => ascii,
            2 => prop::sample::select(vec!['🦀', '漢', '字', 'é', 'ß', '\u{301}', '\u{feff}', '\u{0}', '\u{2028}', '\u{85}']),
        ]
        .boxed()
    } else {
        ascii.boxed()
    }
}

fn edit(unicode: bool) -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => any::<Index>().prop_map(Edit::DeleteLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(at, line)| Edit::InsertLine(at, line)),
        1 => any::<Index>().prop_map(Edit::DuplicateLine),
        3 => any::<Index>().prop_map(Edit::DeleteChar),
        4 => (any::<Index>(), typed_char(unicode)).prop_map(|(at, c)| Edit::InsertChar(at, c)),
    ]
}

/// Byte offsets of the starts of the lines of `text` (each with its terminator), and its end.
fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(text.match_indices('\n').map(|(at, _)| at + 1).filter(|&at| at < text.len()));
    starts.push(text.len());
    starts
}

fn apply(text: &mut String, edit: &Edit) {
    let starts = line_starts(text);
    let lines = starts.len() - 1;
    match edit {
        Edit::DeleteLine(at) if lines > 0 => {
            let line = at.index(lines);
            text.replace_range(starts[line]..starts[line + 1], "");
        }
        Edit::InsertLine(at, which) => {
            let corpus = &CORPUS.lines;
            let inserted = &corpus[which.index(corpus.len())];
            let before = starts[at.index(starts.len())];
            // After a last line without a newline, the inserted line needs one before it.
            let separator = if before == text.len() && !text.is_empty() && !text.ends_with('\n') { "\n" } else { "" };
            text.insert_str(before, &format!("{separator}{inserted}"));
        }
        Edit::DuplicateLine(at) if lines > 0 => {
            let line = at.index(lines);
            let mut copy = text[starts[line]..starts[line + 1]].to_owned();
            if !copy.ends_with('\n') {
                copy.insert(0, '\n');
            }
            text.insert_str(starts[line + 1], &copy);
        }
        Edit::DeleteChar(at) if !text.is_empty() => {
            let (offset, c) = text.char_indices().nth(at.index(text.chars().count())).unwrap();
            text.replace_range(offset..offset + c.len_utf8(), "");
        }
        Edit::InsertChar(at, c) => {
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            text.insert(boundaries[at.index(boundaries.len())], *c);
        }
        _ => {}
    }
}

fn check_span(what: &str, text: &str, span: Span) -> Result<(), TestCaseError> {
    prop_assert!(span.start <= span.end, "{}: reversed span {:?}", what, span);
    prop_assert!(span.end <= text.len(), "{}: span {:?} is past the end ({} bytes)", what, span, text.len());
    prop_assert!(
        text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
        "{}: span {:?} is not on char boundaries",
        what,
        span
    );
    Ok(())
}

fn check_diagnostics(
    file: &Path,
    diagnostics: &[Diagnostic],
    texts: &HashMap<PathBuf, String>,
) -> Result<(), TestCaseError> {
    let own = &texts[file];
    for diagnostic in diagnostics {
        let what = format!("{} [{}] {}", file.display(), diagnostic.code.as_str(), diagnostic.message);
        check_span(&what, own, diagnostic.span)?;
        let in_file = |path: &Option<PathBuf>| match path {
            None => Some(own),
            Some(path) => texts.get(path),
        };
        for related in &diagnostic.related {
            let text = in_file(&related.location.file);
            prop_assert!(text.is_some(), "{}: related file {:?} is unknown", what, related.location.file);
            check_span(&format!("{what} (related: {})", related.message), text.unwrap(), related.location.span)?;
        }
        for fix in &diagnostic.fixes {
            for edit in &fix.edits {
                let text = in_file(&edit.location.file);
                prop_assert!(text.is_some(), "{}: edit file {:?} is unknown", what, edit.location.file);
                check_span(&format!("{what} (fix: {})", fix.title), text.unwrap(), edit.location.span)?;
            }
        }
    }
    Ok(())
}

/// Mutates one corpus file, analyses it (and its `weft.yaml`) and checks every range.
fn run_case(file_index: Index, edits: &[Edit]) -> Result<(), TestCaseError> {
    let corpus = &*CORPUS;
    let file = &corpus.files[file_index.index(corpus.files.len())];
    let mut text = file.text.clone();
    for edit in edits {
        apply(&mut text, edit);
    }
    let mut workspace = Workspace::new();
    let mut texts: HashMap<PathBuf, String> = HashMap::new();
    for (key, other) in file.config.iter().chain(&file.siblings) {
        workspace.set(key.clone(), key.clone(), other.clone());
        texts.insert(key.clone(), other.clone());
    }
    workspace.set(file.key.clone(), file.key.clone(), text.clone());
    texts.insert(file.key.clone(), text.clone());

    let mut checked = vec![file.key.clone()];
    checked.extend(file.config.iter().map(|(key, _)| key.clone()));
    let mut report = CheckReport::default();
    for key in &checked {
        let diagnostics = workspace.check(key);
        check_diagnostics(key, &diagnostics, &texts)?;
        let source = Arc::new(SourceFile::new(key.clone(), texts[key].clone()));
        report.sources.insert(key.clone(), source.clone());
        report.files.push(FileDiagnostics { file: source, diagnostics });
    }
    for format in [Format::Human, Format::Json, Format::Github, Format::Sarif] {
        let mut out = Vec::new();
        render(&report, format, false, &mut out).unwrap();
        prop_assert!(String::from_utf8(out).is_ok(), "{:?} output is UTF-8", format);
    }
    Ok(())
}

fn config(cases: u32) -> Config {
    let cases = std::env::var("WEFT_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config(128))]

    /// Edits with ASCII characters only: the ones every YAML mistake is made of.
    #[test]
    fn ascii_edits_keep_every_range_valid(
        file in any::<Index>(),
        edits in prop::collection::vec(edit(false), 1..=5),
    ) {
        run_case(file, &edits)?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// The same with emoji, CJK, combining marks, a byte order mark, NUL and Unicode line breaks.
    #[test]
    fn unicode_edits_keep_every_range_valid(
        file in any::<Index>(),
        edits in prop::collection::vec(edit(true), 1..=5),
    ) {
        run_case(file, &edits)?;
    }
}

#[test]
fn the_edits_do_what_they_say() {
    let index = |n: usize, len: usize| -> Index {
        // `Index::index(len)` scales a random fraction; search for the raw value that gives `n`.
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        loop {
            let candidate = any::<Index>().new_tree(&mut runner).unwrap().current();
            if candidate.index(len) == n {
                return candidate;
            }
        }
    };
    let mut text = String::from("a\nb\nc\nd");
    apply(&mut text, &Edit::DeleteLine(index(1, 4)));
    assert_eq!(text, "a\nc\nd");
    apply(&mut text, &Edit::DuplicateLine(index(2, 3)));
    assert_eq!(text, "a\nc\nd\nd");
    let mut text = String::from("a🦀b");
    apply(&mut text, &Edit::DeleteChar(index(1, 3)));
    assert_eq!(text, "ab");
    let mut text = String::from("a🦀b");
    apply(&mut text, &Edit::InsertChar(index(2, 4), '漢'));
    assert_eq!(text, "a🦀漢b");
}

/// A well-formed workflow of `stages` stages in the shapes users write: flow and block lists, block
/// scalars, quoted strings, comments between stages, nested mappings.
fn stage_workflow(stages: usize) -> String {
    let mut text = String::from("# generated\nversion: 1\nname: typing\nstages:\n");
    for i in 0..stages {
        text.push_str(&format!("  - id: s{i}\n    name: \"stage {i}\"\n    script: tool\n"));
        if i > 0 {
            text.push_str(&format!("    depends_on: [s{}]\n", i - 1));
        }
        match i % 4 {
            0 => text.push_str("    with:\n      note: |\n        line one\n        line two\n\n"),
            1 => text.push_str("    condition: \"steps.s0.status == 'succeeded'\"  # note\n"),
            2 => text.push_str("  # between stages\n"),
            _ => text.push_str("    provides:\n      - out\n    retries: 2\n"),
        }
    }
    text.push_str("env:\n  A: b\n");
    text
}

/// Applies `edits` one after the other, keeping the tree as a language server does: reparsing only
/// the edited stage (`weft::syntax::reparse`) where it can, a whole parse otherwise. After every edit
/// the tree must equal a whole parse of the same text: the same values, spans and errors. Returns
/// how many edits took the short path, and how many were made to a text without errors (the only
/// ones that may).
fn reparse_case(text: &str, edits: &[Edit]) -> Result<(usize, usize), TestCaseError> {
    use weft::syntax::{parse, reparse};
    let mut text = text.to_owned();
    let mut tree = parse(&text);
    let (mut short, mut clean) = (0, 0);
    for edit in edits {
        clean += usize::from(tree.errors.is_empty());
        let mut new = text.clone();
        apply(&mut new, edit);
        if reparse(&mut tree, &text, &new) {
            short += 1;
        } else {
            tree = parse(&new);
        }
        let whole = parse(&new);
        // Compared as printed: `.nan` is not equal to itself.
        prop_assert_eq!(format!("{:?}", tree.root), format!("{:?}", whole.root), "after {:?} in {:?}", edit, new);
        prop_assert_eq!(&tree.errors, &whole.errors);
        prop_assert_eq!(tree.complete, whole.complete);
        text = new;
    }
    Ok((short, clean))
}

/// Runs `reparse_case` on many random cases and checks that at least `share` of the edits to texts
/// without errors took the short path, or the property proves nothing.
fn check_reparse(cases: u32, share: f64, file: impl Fn(Index) -> String) {
    let mut runner = proptest::test_runner::TestRunner::new(config(cases));
    let counts = std::cell::Cell::new((0_usize, 0_usize));
    let strategy = (any::<Index>(), prop::collection::vec(edit(true), 1..=8));
    let result = runner.run(&strategy, |(which, edits)| {
        let (short, clean) = reparse_case(&file(which), &edits)?;
        let (all_short, all_clean) = counts.get();
        counts.set((all_short + short, all_clean + clean));
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (short, all) = counts.get();
    eprintln!("{short} of {all} edits to error-free texts took the short path");
    assert!(short as f64 >= share * all as f64, "only {short} of {all} edits to error-free texts took the short path");
}

#[test]
fn reparsing_one_stage_of_a_corpus_file_gives_the_whole_parse() {
    let corpus = &*CORPUS;
    check_reparse(256, 0.1, |which| corpus.files[which.index(corpus.files.len())].text.clone());
}

#[test]
fn reparsing_one_stage_of_a_long_workflow_gives_the_whole_parse() {
    let text = stage_workflow(40);
    check_reparse(256, 0.3, |_| text.clone());
}
/// Every character a user may type, inserted at every place of a small workflow, and every
/// character deleted: wherever the short path is taken it must give the whole parse.
#[test]
fn reparsing_after_any_one_character_gives_the_whole_parse() {
    use weft::syntax::{parse, reparse};
    let text = stage_workflow(4);
    let base = parse(&text);
    let mut edits: Vec<String> = Vec::new();
    for (at, c) in text.char_indices() {
        let mut deleted = text.clone();
        deleted.replace_range(at..at + c.len_utf8(), "");
        edits.push(deleted);
        for typed in "[]{}:-#'\"\t\n ,&*!|>?%@\\a0.\r🦀".chars() {
            let mut inserted = text.clone();
            inserted.insert(at, typed);
            edits.push(inserted);
        }
    }
    let mut short = 0;
    for new in &edits {
        let mut tree = base.clone();
        if reparse(&mut tree, &text, new) {
            short += 1;
            let whole = parse(new);
            assert_eq!(format!("{:?}", tree.root), format!("{:?}", whole.root), "reparse of {new:?}");
            assert_eq!(tree.errors, whole.errors);
        }
    }
    assert!(short * 3 >= edits.len(), "only {short} of {} edits took the short path", edits.len());
}
