//! Validating stage by stage, and the per-stage cache, against validating the whole file.

use std::path::{Path, PathBuf};

use super::*;
use crate::syntax::parse;

/// What validating the file's whole `serde_json` copy reports (as weft did before it validated the
/// tree in place and stage by stage): the reference the split must equal.
fn whole(kind: FileKind, root: &Node, complete: bool, lost: &[Span]) -> Vec<Diagnostic> {
    static VALIDATORS: LazyLock<Vec<(FileKind, Validator)>> = LazyLock::new(|| {
        [FileKind::Workflow, FileKind::Plan]
            .map(|kind| {
                let validator = jsonschema::options()
                    .with_pattern_options(jsonschema::PatternOptions::regex())
                    .build(&schema_for(kind).expect("a schema").json)
                    .expect("the schema compiles");
                (kind, validator)
            })
            .into()
    });
    let schema = schema_for(kind).expect("a schema");
    let validator = &VALIDATORS.iter().find(|(k, _)| *k == kind).expect("a validator").1;
    let locator = Locator { schema: &schema.json, kind: Some(kind), complete, lost, code: Code::Schema };
    let mut out = Vec::new();
    for error in validator.iter_errors(&root.to_json()) {
        let path = instance_path(&error);
        let unknown_keys = matches!(error.kind(), ValidationErrorKind::AdditionalProperties { .. });
        if !unknown_keys && locator.lost_content(root, usize::MAX, &path) {
            continue;
        }
        let schema_path: Vec<String> = error.schema_path().iter().map(|segment| segment.to_string()).collect();
        locator.diagnose(root, &path, &schema_path, &error, &mut out);
    }
    normalised(out)
}

fn split(kind: FileKind, text: &str, parse: &Parse) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    check_schema(kind, text, parse, &mut out);
    normalised(out)
}

fn cached(cache: &mut SchemaCache, kind: FileKind, text: &str) -> Vec<Diagnostic> {
    let parse = parse(text);
    let mut out = Vec::new();
    assert!(parse.root.is_some(), "a root");
    cache.check(kind, text, &parse, &mut out);
    normalised(out)
}

/// As `Workspace::check` orders and merges them.
fn normalised(mut out: Vec<Diagnostic>) -> Vec<Diagnostic> {
    out.sort_by(|a, b| a.span.cmp(&b.span).then(a.code.cmp(&b.code)));
    out.dedup_by(|a, b| a.span == b.span && a.code == b.code && a.message == b.message);
    out
}

/// Each diagnostic as `message @ the text it underlines`.
fn described(text: &str, diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics.iter().map(|d| format!("{} @ {:?}", d.message, &text[d.span.start..d.span.end])).collect()
}

fn assert_same_as_whole(kind: FileKind, text: &str, what: &str) {
    assert_same_as_whole_with(&mut SchemaCache::new(), kind, text, what);
}

/// Also through `cache`, which may hold the stages of other versions of the file.
fn assert_same_as_whole_with(cache: &mut SchemaCache, kind: FileKind, text: &str, what: &str) {
    let parse = parse(text);
    let Some(root) = parse.root.as_ref() else { return };
    let expected = whole(kind, root, parse.complete, &parse.lost);
    assert_eq!(split(kind, text, &parse), expected, "split validation of {what}");
    // Validating through the cache, and again from the cache just filled, gives the same as well.
    for round in ["first", "second"] {
        let mut out = Vec::new();
        cache.check(kind, text, &parse, &mut out);
        assert_eq!(normalised(out), expected, "{round} check through the cache on {what}");
    }
}

const WORKFLOW: &str = "\
workflow_id: demo
nmae: typo at top level
stages:
  - id: first
    script: plugin_a
  - id: second
    script: plugin_a
    depends_on: [first]
  - id: third
    script: plugin_a
    retries: -1
    on_failure: abrot
";

#[test]
fn both_pipeline_schemas_are_validated_stage_by_stage() {
    assert_eq!(schema_for(FileKind::Workflow).and_then(|s| s.items.as_ref()).map(|i| i.list_key), Some("stages"));
    assert_eq!(schema_for(FileKind::Plan).and_then(|s| s.items.as_ref()).map(|i| i.list_key), Some("steps"));
    assert!(schema_for(FileKind::ProjectConfig).is_some_and(|s| s.items.is_none()));
}

#[test]
fn errors_in_the_third_stage_and_at_top_level_sit_on_their_keys() {
    let parse = parse(WORKFLOW);
    let root = parse.root.as_ref().unwrap();
    let found = split(FileKind::Workflow, WORKFLOW, &parse);
    assert_eq!(
        described(WORKFLOW, &found),
        [
            "unknown key `nmae` @ \"nmae\"",
            "must be at least 0 @ \"-1\"",
            "`abrot` is not one of: abort, skip_dependents, continue, fallback @ \"abrot\"",
        ]
    );
    assert_eq!(found[0].help.as_deref(), Some("did you mean `name`?"));
    assert_eq!(found[2].help.as_deref(), Some("did you mean `abort`?"));
    assert_eq!(found, whole(FileKind::Workflow, root, true, &[]));
}

#[test]
fn the_list_left_empty_reports_nothing_about_it_and_nothing_is_lost() {
    // A missing `stages` is still reported, an empty or wrongly typed one as before.
    for text in [
        "workflow_id: demo\n",
        "workflow_id: demo\nstages: []\n",
        "workflow_id: demo\nstages: {id: a}\n",
        "workflow_id: demo\nstages: build\n",
        "workflow_id: demo\nstages:\n",
        "stages:\n  - id: a\n",
        "workflow_id: demo\nstages:\n  - 42\n  - [id, a]\n  - ~\n  - {}\n",
        "- id: a\n",
    ] {
        assert_same_as_whole(FileKind::Workflow, text, text);
    }
    for text in [
        "plan_id: p\nsteps:\n  - id: a\n    command: make\n    run: make\n  - id: b\n  - {id: c, shell: zsh, run: x}\n",
        "plan_id: p\nsteps: []\nglobals: {shell: zsh}\n",
    ] {
        assert_same_as_whole(FileKind::Plan, text, text);
    }
}

#[test]
fn files_with_aliases_are_validated_whole() {
    let text = "workflow_id: demo\nx-base: &base {script: a, retries: -1, bogus: 1}\nstages:\n  - <<: *base\n    id: one\n  - *base\n";
    assert!(parse(text).aliases);
    assert_same_as_whole(FileKind::Workflow, text, "aliases");
    assert!(!parse("run: rm -f *.o\nargs: [\"*.rs\"]\nwhen: a # *b\n").aliases);
    assert!(parse("a: &y 1\nb: [x, *y]").aliases);
    assert!(parse("a: &y 1\nb:\n  *y : 1").aliases);
}

/// Every workflow and plan in the fixtures and examples, and each of them with every line deleted
/// or its value replaced in turn, reports the same schema diagnostics stage by stage as whole, and
/// through one cache that has seen all the file's other versions (as in an editor).
#[test]
fn splitting_matches_whole_validation_on_fixtures_and_their_mutations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    collect(&root.join("tests/fixtures"), &mut files);
    collect(&root.join("examples"), &mut files);
    let (mut checked, mut split_files) = (0, 0);
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let kind =
            match FileKind::from_path(&file).or_else(|| parse(&text).root.as_ref().and_then(FileKind::from_content)) {
                Some(kind @ (FileKind::Workflow | FileKind::Plan)) => kind,
                _ => continue,
            };
        split_files += usize::from(!parse(&text).aliases);
        let mut cache = SchemaCache::new();
        assert_same_as_whole_with(&mut cache, kind, &text, &file.display().to_string());
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for (index, line) in lines.iter().enumerate() {
            let mut variants = vec![String::new()];
            if let Some((key, _)) = line.split_once(": ") {
                variants.extend(["~\n", "[]\n", "-3\n", "{}\n", "\"x y\"\n"].map(|value| format!("{key}: {value}")));
            }
            for replacement in variants {
                let mutated: String =
                    lines.iter().enumerate().map(|(i, l)| if i == index { replacement.as_str() } else { l }).collect();
                assert_same_as_whole(
                    kind,
                    &mutated,
                    &format!("{} with line {} as {replacement:?}", file.display(), index + 1),
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "only {checked} variants checked");
    assert!(split_files >= 10, "only {split_files} files validated stage by stage");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn the_cache_answers_with_spans_moved_to_where_the_stage_now_is() {
    let mut cache = SchemaCache::new();
    let first = cached(&mut cache, FileKind::Workflow, WORKFLOW);
    assert_eq!(cache.len(), 3);
    // Text inserted above the stages shifts them all; the cache must answer (mark its entries so
    // that an answer from it shows) and put each error on the same key as before.
    for stage in cache.stages.values_mut() {
        for diagnostic in stage.diagnostics.iter_mut() {
            diagnostic.message.push_str(" (cached)");
        }
    }
    let shifted_text =
        WORKFLOW.replace("nmae: typo at top level\n", "nmae: typo at top level\nname: a longer line above\n");
    let second = cached(&mut cache, FileKind::Workflow, &shifted_text);
    assert_eq!(
        described(&shifted_text, &second),
        [
            "unknown key `nmae` @ \"nmae\"",
            "must be at least 0 (cached) @ \"-1\"",
            "`abrot` is not one of: abort, skip_dependents, continue, fallback (cached) @ \"abrot\"",
        ]
    );
    assert_eq!(second[1].span.start, first[1].span.start + "name: a longer line above\n".len());
    assert_eq!(cache.len(), 3);
}

#[test]
fn an_edited_stage_is_validated_again_and_the_others_come_from_the_cache() {
    let mut cache = SchemaCache::new();
    cached(&mut cache, FileKind::Workflow, WORKFLOW);
    for stage in cache.stages.values_mut() {
        for diagnostic in stage.diagnostics.iter_mut() {
            diagnostic.message.push_str(" (cached)");
        }
    }
    // The third stage's enum is fixed: its other error is found afresh, not taken from the cache.
    let edited = WORKFLOW.replace("abrot", "abort");
    assert_eq!(
        described(&edited, &cached(&mut cache, FileKind::Workflow, &edited)),
        ["unknown key `nmae` @ \"nmae\"", "must be at least 0 @ \"-1\""]
    );
    // A new error in the first stage, while the third keeps its cached one.
    let edited = WORKFLOW.replace("script: plugin_a\n  - id: second", "script: 7\n  - id: second");
    assert_eq!(
        described(&edited, &cached(&mut cache, FileKind::Workflow, &edited)),
        [
            "unknown key `nmae` @ \"nmae\"",
            "expected string, found integer @ \"7\"",
            "must be at least 0 (cached) @ \"-1\"",
            "`abrot` is not one of: abort, skip_dependents, continue, fallback (cached) @ \"abrot\"",
        ]
    );
}

#[test]
fn the_same_text_at_another_indentation_is_another_stage() {
    let mut cache = SchemaCache::new();
    // Same text from the stage's first key on, but at column 4 `retries` is a key of the stage and
    // at column 2 it is not.
    let nested = "workflow_id: w\nstages:\n  - id: a\n    script: s\n    retries: -1\n";
    let flat = "workflow_id: w\nstages:\n- id: a\n    script: s\n    retries: -1\n";
    for text in [nested, flat, nested] {
        let parse = parse(text);
        let expected = parse.root.as_ref().map(|root| whole(FileKind::Workflow, root, parse.complete, &parse.lost));
        if parse.errors.is_empty() {
            assert_eq!(Some(cached(&mut cache, FileKind::Workflow, text)), expected, "{text}");
        }
    }
}

#[test]
fn a_file_with_syntax_errors_neither_reads_nor_fills_the_cache() {
    let mut cache = SchemaCache::new();
    let broken = format!("{WORKFLOW}  - id: [unclosed\n");
    let parse = parse(&broken);
    assert!(!parse.errors.is_empty());
    let mut out = Vec::new();
    cache.check(FileKind::Workflow, &broken, &parse, &mut out);
    assert!(cache.is_empty());
}

#[test]
fn the_cache_stays_near_twice_the_stages_of_the_file() {
    let mut cache = SchemaCache::new();
    let stage = |i: usize, retries: usize| format!("  - id: s{i}\n    script: p\n    retries: {retries}\n");
    for edit in 0..300 {
        // 100 stages, each edit changes one of them: old versions pile up until eviction.
        let text: String = std::iter::once("workflow_id: w\nstages:\n".to_owned())
            .chain((0..100).map(|i| stage(i, if i == edit % 100 { edit } else { 0 })))
            .collect();
        assert!(cached(&mut cache, FileKind::Workflow, &text).is_empty());
        assert!(cache.len() <= 2 * 100 + 64, "{} entries after edit {edit}", cache.len());
    }
    assert!(cache.len() >= 100);
}

#[test]
fn a_workspace_with_a_warm_cache_reports_what_a_fresh_one_does() {
    use crate::analysis::Workspace;
    let key = PathBuf::from("/project/demo.workflow.yaml");
    let mut editor = Workspace::new();
    let versions = [
        WORKFLOW.to_owned(),
        WORKFLOW.replace("stages:\n", "# a comment above every stage\nstages:\n"),
        WORKFLOW.replace("abrot", "abor"),
        WORKFLOW.replace("retries: -1", "retries: 1"),
        WORKFLOW.replace("  - id: first\n    script: plugin_a\n", ""),
        format!("{WORKFLOW}  - id: [unclosed\n"),
        WORKFLOW.to_owned(),
    ];
    for text in versions {
        editor.set(key.clone(), key.clone(), text.clone());
        let mut fresh = Workspace::new();
        fresh.set(key.clone(), key.clone(), text.clone());
        assert_eq!(editor.check(&key), fresh.check(&key), "{text}");
    }
}

/// The tree read in place validates as its `serde_json` copy does, also where the two differ in
/// shape: keys that are not strings (`1` and `"1"` are one JSON member), floats that are not finite
/// (`null` in JSON), and every keyword a plugin's `inputs` may use.
#[test]
fn the_tree_validates_as_its_json_copy() {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "level": {"enum": ["low", "high", 1, null]},
            "exact": {"const": {"a": [1, "x"]}},
            "count": {"type": "integer", "minimum": 0, "maximum": 10},
            "ratio": {"type": "number", "exclusiveMinimum": 0},
            "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
            "tags": {"type": "array", "uniqueItems": true, "items": {"type": ["string", "number"]}, "maxItems": 3},
            "nested": {"oneOf": [{"required": ["a"]}, {"required": ["b"]}], "additionalProperties": {"type": "boolean"}},
            "keys": {"propertyNames": {"pattern": "^[a-z]+$"}, "minProperties": 1},
            "1": {"type": "string"},
            "null": {"type": "integer"}
        },
        "required": ["count"],
        "additionalProperties": false
    });
    let tree_validator = jsonschema::options_for::<TreeJson>().build(&schema).unwrap();
    let json_validator = jsonschema::validator_for(&schema).unwrap();
    let values = [
        "{level: low, count: 3, name: abc, tags: [a, b]}",
        "{level: medium, count: -1, ratio: 0, name: A1, tags: [a, a, 1], extra: 1}",
        "{count: 2.5, tags: [1, 1.0], name: abcdefgh}",
        "{count: 3, nested: {a: 1, b: 2, c: x}, keys: {Bad: 1, good: 2}}",
        "{count: 3, nested: {c: true}, keys: {}}",
        "{count: 3, exact: {a: [1, x]}, level: 1}",
        "{count: 3, exact: {a: [1.0, x]}, level: ~}",
        "{count: 3, exact: {a: [2, x]}}",
        "{count: .nan, ratio: .inf, name: .nan}",
        "{1: a, \"1\": 2, count: 1}",
        "{\"1\": 2, 1: a, count: 1}",
        "{null: 1, ~: x, count: 1}",
        "{true: 1, count: 1}",
        "[1, 2]",
        "~",
        "{count: 1, tags: [[1], [1]]}",
    ];
    let mut reported = 0;
    for text in values {
        let parse = parse(text);
        let node = parse.root.as_ref().unwrap();
        let locator = Locator { schema: &schema, kind: None, complete: true, lost: &[], code: Code::InvalidInput };
        let mut from_tree = Vec::new();
        locator.report(&tree_validator, TreeValue::Node(node), node, usize::MAX, &mut from_tree);
        let mut from_json = Vec::new();
        for error in json_validator.iter_errors(&node.to_json()) {
            let path = instance_path(&error);
            let schema_path: Vec<String> = error.schema_path().iter().map(|segment| segment.to_string()).collect();
            locator.diagnose(node, &path, &schema_path, &error, &mut from_json);
        }
        assert_eq!(from_tree, from_json, "{text}");
        reported += from_tree.len();
        assert_eq!(tree_validator.is_valid(TreeValue::Node(node)), json_validator.is_valid(&node.to_json()), "{text}");
    }
    assert!(reported >= 20, "only {reported} errors compared");
}
