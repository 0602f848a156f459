//! Phase templates (`*.phases.yaml`, SPEC §7): the ordered phases a session walks a task through,
//! read leniently from the spanned tree, every field with its span.
//!
//! This is the one description of a template that both sides use: the checks and editor features
//! in `analysis`, and the session engine that starts, validates and completes phases. The names a
//! validation expression may use are listed here too ([`VALIDATION_NAMES`]), so that what the
//! checker accepts is exactly what the session engine evaluates.

use crate::syntax::{Node, NodeKind, Span};

use super::Name;

/// The only placeholder of a template: the id of the task a session walks. It may appear in
/// `artifacts`, in `run` (of validation entries and hooks) and in `workflow`; `goal`,
/// `description` and `next_step` are shown with it substituted too.
pub const TASK_PLACEHOLDER: &str = "{task}";

/// The statuses of a phase in a session, as `phases.<id>.status` holds them.
pub const PHASE_STATUSES: [&str; 4] = ["pending", "active", "completed", "overridden"];

/// The two lists of `artifacts`.
pub const ARTIFACT_LISTS: [&str; 2] = ["required", "optional"];

/// The tests on an artifact list, `artifacts.<list>.<test>`, and the lists each is defined on:
/// `all_exist` on both, `any_exist` on `optional` (a required artifact must exist anyway), `missing`
/// on both.
pub const ARTIFACT_TESTS: [(&str, &[&str], &str); 3] = [
    ("all_exist", &["required", "optional"], "true when every path (or glob) of the list exists"),
    ("any_exist", &["optional"], "true when at least one path (or glob) of the list exists"),
    ("missing", &["required", "optional"], "the paths of the list that do not exist, as a list of strings"),
];

/// The roots of a validation expression's names.
pub const VALIDATION_ROOTS: [&str; 4] = ["artifacts", "phases", "task", "env"];

/// Every name a validation expression may use (the agreed contract with the session engine), with
/// what it holds. `<id>` is a phase id of the same template, `<NAME>` an environment variable.
pub const VALIDATION_NAMES: [(&str, &str); 8] = [
    ("artifacts.required.all_exist", "`true` when every required artifact exists (boolean)"),
    ("artifacts.optional.all_exist", "`true` when every optional artifact exists (boolean)"),
    ("artifacts.optional.any_exist", "`true` when at least one optional artifact exists (boolean)"),
    ("artifacts.required.missing", "the required artifacts that do not exist (list of paths)"),
    ("artifacts.optional.missing", "the optional artifacts that do not exist (list of paths)"),
    ("phases.<id>.status", "the status of a phase of this template: pending, active, completed or overridden"),
    ("task.id", "the id of the task the session walks (string)"),
    ("env.<NAME>", "an environment variable (string, or null when unset)"),
];

/// True when `artifacts.<list>.<test>` is a name of the validation namespace.
pub fn is_artifact_test(list: &str, test: &str) -> bool {
    ARTIFACT_TESTS.iter().any(|(name, lists, _)| *name == test && lists.contains(&list))
}

/// `text` with every `{task}` replaced by `task`. Nothing else is a placeholder; any other brace is
/// left as it is.
pub fn substitute_task(text: &str, task: &str) -> String {
    text.replace(TASK_PLACEHOLDER, task)
}

/// A phase template, read leniently: whatever has the right shape is taken, the rest is left to
/// the schema check. Reading never fails, on any tree.
#[derive(Debug)]
pub struct PhaseTemplate<'t> {
    pub root: &'t Node,
    pub template_id: Option<Name<'t>>,
    pub description: Option<Name<'t>>,
    /// The phases in the order a task walks them, ids unique when the file checks clean.
    pub phases: Vec<Phase<'t>>,
    /// The `phases` node, where new phases go.
    pub phases_node: Option<&'t Node>,
}

#[derive(Debug)]
pub struct Phase<'t> {
    /// The phase's mapping.
    pub node: &'t Node,
    pub id: Option<Name<'t>>,
    pub goal: Option<Name<'t>>,
    pub description: Option<Name<'t>>,
    /// `artifacts.required`: paths or globs, with `{task}` to substitute.
    pub required: Vec<Name<'t>>,
    /// `artifacts.optional`.
    pub optional: Vec<Name<'t>>,
    /// Every entry of `validation`, in order, the malformed ones included (see [`Validation::Invalid`]).
    pub validation: Vec<Validation<'t>>,
    /// `hooks.on_start`, the entries with a `run` string.
    pub on_start: Vec<Command<'t>>,
    /// `hooks.on_end`, the entries with a `run` string.
    pub on_end: Vec<Command<'t>>,
    pub events: Vec<Name<'t>>,
    pub next_step: Option<Name<'t>>,
    /// A workflow or plan file, relative to the template's folder, with `{task}` to substitute.
    pub workflow: Option<Name<'t>>,
}

/// One entry of a phase's `validation`.
#[derive(Debug)]
pub enum Validation<'t> {
    /// A string: an expression of the validation namespace ([`VALIDATION_NAMES`]) that must be
    /// truthy. `source.span` is the string node's span; map offsets inside the expression to the
    /// file with [`Node::value_offset_in_source`] on `node`.
    Expr { node: &'t Node, source: Name<'t> },
    /// `{ run, message, timeout_sec }`: a shell command that must exit 0.
    Run { node: &'t Node, run: Name<'t>, message: Option<Name<'t>>, timeout_sec: Option<Seconds> },
    /// Neither a string nor a mapping with a `run` string: the schema check reports it, and a
    /// template with errors is not to be run. Kept so that entries keep their positions.
    Invalid { node: &'t Node },
}

/// A hook command: `{ run, timeout_sec }`.
#[derive(Clone, Copy, Debug)]
pub struct Command<'t> {
    pub node: &'t Node,
    pub run: Name<'t>,
    pub timeout_sec: Option<Seconds>,
}

/// A positive, finite number of seconds and the span of its node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seconds {
    pub value: f64,
    pub span: Span,
}

impl<'t> Validation<'t> {
    /// The entry's node (the string, or the mapping).
    pub fn node(&self) -> &'t Node {
        match self {
            Validation::Expr { node, .. } | Validation::Run { node, .. } | Validation::Invalid { node } => node,
        }
    }

    /// How a report names the entry: the expression, else the `message`, else the command.
    pub fn label(&self) -> &'t str {
        match self {
            Validation::Expr { source, .. } => source.text,
            Validation::Run { message: Some(message), .. } => message.text,
            Validation::Run { run, .. } => run.text,
            Validation::Invalid { .. } => "(malformed entry)",
        }
    }
}

/// Reads the phase template at `root`; a root that is not a mapping gives a template with no
/// phases.
pub fn phase_template(root: &Node) -> PhaseTemplate<'_> {
    PhaseTemplate::read(root)
}

impl<'t> PhaseTemplate<'t> {
    /// See [`phase_template`].
    pub fn read(root: &'t Node) -> PhaseTemplate<'t> {
        let mut template_id = None;
        let mut description = None;
        let mut phases_node = None;
        // The first of a repeated key counts, as with `Node::get`.
        for (key, value) in root.as_mapping().unwrap_or_default() {
            match key.as_str() {
                Some("template_id") if template_id.is_none() => template_id = Some(value),
                Some("description") if description.is_none() => description = Some(value),
                Some("phases") if phases_node.is_none() => phases_node = Some(value),
                _ => {}
            }
        }
        let items = phases_node.and_then(Node::as_sequence).unwrap_or_default();
        PhaseTemplate {
            root,
            template_id: template_id.and_then(name),
            description: description.and_then(name),
            phases: items.iter().filter_map(Phase::read).collect(),
            phases_node,
        }
    }

    /// The first phase with this id, and its position.
    pub fn phase(&self, id: &str) -> Option<(usize, &Phase<'t>)> {
        self.phases.iter().enumerate().find(|(_, phase)| phase.id.is_some_and(|own| own.text == id))
    }

    /// The ids of the phases, in order.
    pub fn ids(&self) -> impl Iterator<Item = &'t str> + '_ {
        self.phases.iter().filter_map(|phase| phase.id.map(|id| id.text))
    }
}

impl<'t> Phase<'t> {
    fn read(node: &'t Node) -> Option<Phase<'t>> {
        let entries = node.as_mapping()?;
        // One pass over the phase's keys rather than a search per field. The first of a repeated
        // key counts, as with `Node::get`.
        let mut fields = PhaseFields::default();
        for (key, value) in entries {
            let slot = match key.as_str() {
                Some("id") => &mut fields.id,
                Some("goal") => &mut fields.goal,
                Some("description") => &mut fields.description,
                Some("artifacts") => &mut fields.artifacts,
                Some("validation") => &mut fields.validation,
                Some("hooks") => &mut fields.hooks,
                Some("events") => &mut fields.events,
                Some("next_step") => &mut fields.next_step,
                Some("workflow") => &mut fields.workflow,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        let artifacts = |list: &str| names(fields.artifacts.and_then(|artifacts| artifacts.get(list)));
        let hooks = |point: &str| commands(fields.hooks.and_then(|hooks| hooks.get(point)));
        Some(Phase {
            node,
            id: fields.id.and_then(name),
            goal: fields.goal.and_then(name),
            description: fields.description.and_then(name),
            required: artifacts("required"),
            optional: artifacts("optional"),
            validation: fields
                .validation
                .and_then(Node::as_sequence)
                .unwrap_or_default()
                .iter()
                .map(validation)
                .collect(),
            on_start: hooks("on_start"),
            on_end: hooks("on_end"),
            events: names(fields.events),
            next_step: fields.next_step.and_then(name),
            workflow: fields.workflow.and_then(name),
        })
    }

    /// The texts of the phase a session substitutes `{task}` in before using them: the artifacts,
    /// the `run` of validation entries and hooks, and `workflow`, field by field.
    pub fn task_texts(&self) -> Vec<Name<'t>> {
        let mut texts: Vec<Name<'t>> = Vec::new();
        texts.extend(self.required.iter().chain(&self.optional).copied());
        for entry in &self.validation {
            if let Validation::Run { run, .. } = entry {
                texts.push(*run);
            }
        }
        texts.extend(self.on_start.iter().chain(&self.on_end).map(|command| command.run));
        texts.extend(self.workflow);
        texts
    }
}

/// The values of the keys a phase is read from.
#[derive(Default)]
struct PhaseFields<'t> {
    id: Option<&'t Node>,
    goal: Option<&'t Node>,
    description: Option<&'t Node>,
    artifacts: Option<&'t Node>,
    validation: Option<&'t Node>,
    hooks: Option<&'t Node>,
    events: Option<&'t Node>,
    next_step: Option<&'t Node>,
    workflow: Option<&'t Node>,
}

fn name(node: &Node) -> Option<Name<'_>> {
    node.as_str().map(|text| Name { text, span: node.span })
}

/// The strings of a list; only a real list counts (the schema reports anything else).
fn names(list: Option<&Node>) -> Vec<Name<'_>> {
    list.and_then(Node::as_sequence).map(|items| items.iter().filter_map(name).collect()).unwrap_or_default()
}

fn seconds(node: Option<&Node>) -> Option<Seconds> {
    let node = node?;
    node.as_f64().filter(|value| value.is_finite() && *value > 0.0).map(|value| Seconds { value, span: node.span })
}

fn validation(node: &Node) -> Validation<'_> {
    match &node.kind {
        NodeKind::String(..) => match name(node) {
            Some(source) => Validation::Expr { node, source },
            None => Validation::Invalid { node },
        },
        NodeKind::Mapping(_) => match node.get("run").and_then(name) {
            Some(run) => Validation::Run {
                node,
                run,
                message: node.get("message").and_then(name),
                timeout_sec: seconds(node.get("timeout_sec")),
            },
            None => Validation::Invalid { node },
        },
        _ => Validation::Invalid { node },
    }
}

fn commands(list: Option<&Node>) -> Vec<Command<'_>> {
    list.and_then(Node::as_sequence)
        .unwrap_or_default()
        .iter()
        .filter_map(|node| {
            let run = node.get("run").and_then(name)?;
            Some(Command { node, run, timeout_sec: seconds(node.get("timeout_sec")) })
        })
        .collect()
}

/// A `{…}` in a text that is meant as a placeholder: braces around a short name (letters, digits,
/// `_`, `-`, spaces around it). `span` is the byte range of the braces in the text, `name` the
/// trimmed text between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placeholder<'a> {
    pub span: Span,
    pub name: &'a str,
}

impl Placeholder<'_> {
    /// True for `{task}` exactly.
    pub fn is_task(&self, text: &str) -> bool {
        text.get(self.span.start..self.span.end) == Some(TASK_PLACEHOLDER)
    }
}

/// The placeholders of a text, in order (see [`Placeholder`]). Shell syntax that uses braces is not
/// one: `${VAR}` (a `$` before the brace), `{}`, `{a,b}`, `{print $1}`. Linear in the text.
pub fn placeholders(text: &str) -> Vec<Placeholder<'_>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(open) = text[at..].find('{').map(|offset| at + offset) {
        at = open + 1;
        if open > 0 && bytes[open - 1] == b'$' {
            continue;
        }
        // The name ends at the first byte that cannot be in one; only a `}` there closes it.
        let inner_end = text[open + 1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ')))
            .map_or(text.len(), |offset| open + 1 + offset);
        if bytes.get(inner_end) != Some(&b'}') {
            continue;
        }
        let name = text[open + 1..inner_end].trim_matches(' ');
        let starts_like_a_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if starts_like_a_name && !name.contains(' ') {
            found.push(Placeholder { span: Span::new(open, inner_end + 1), name });
        }
        at = inner_end + 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse;

    const TEMPLATE: &str = "\
template_id: feature
phases:
  - id: intake
    goal: Understand the request
    artifacts:
      required: [\"docs/{task}/intake.md\"]
      optional: [\"docs/{task}/notes.md\"]
    validation:
      - artifacts.required.all_exist
      - { run: \"grep -q x docs/{task}/intake.md\", message: no questions, timeout_sec: 60 }
      - 42
    hooks: { on_start: [{ run: echo start }], on_end: [{ run: echo end, timeout_sec: 30 }] }
    events: [intake_done]
    next_step: Research
  - id: execute
    workflow: ../release/release.plan.yaml
  - not a phase
";

    #[test]
    fn every_field_is_read_with_its_span() {
        let parse = parse(TEMPLATE);
        let template = phase_template(parse.root.as_ref().unwrap());
        assert_eq!(template.template_id.unwrap().text, "feature");
        assert_eq!(template.ids().collect::<Vec<_>>(), ["intake", "execute"]);
        let intake = &template.phases[0];
        let id = intake.id.unwrap();
        assert_eq!(&TEMPLATE[id.span.start..id.span.end], "intake");
        assert_eq!(intake.required[0].text, "docs/{task}/intake.md");
        assert_eq!(intake.optional.len(), 1);
        assert_eq!(intake.validation.len(), 3);
        assert!(
            matches!(intake.validation[0], Validation::Expr { source, .. } if source.text == "artifacts.required.all_exist")
        );
        match &intake.validation[1] {
            Validation::Run { run, message, timeout_sec, .. } => {
                assert_eq!(run.text, "grep -q x docs/{task}/intake.md");
                assert_eq!(message.unwrap().text, "no questions");
                assert_eq!(timeout_sec.unwrap().value, 60.0);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(intake.validation[2], Validation::Invalid { .. }));
        assert_eq!(intake.validation[1].label(), "no questions");
        assert_eq!(intake.on_start[0].run.text, "echo start");
        assert_eq!(intake.on_end[0].timeout_sec.unwrap().value, 30.0);
        assert_eq!(intake.events[0].text, "intake_done");
        assert_eq!(intake.next_step.unwrap().text, "Research");
        assert_eq!(template.phase("execute").unwrap().0, 1);
        assert_eq!(template.phases[1].workflow.unwrap().text, "../release/release.plan.yaml");
        assert_eq!(intake.task_texts().len(), 5);
    }

    #[test]
    fn half_typed_input_reads_without_failing() {
        for text in
            ["", "phases: 42", "phases:\n  - id: [a]\n    validation: x\n", "- a\n- b\n", "phases: [{}, 1, {id: a}]"]
        {
            let parse = parse(text);
            if let Some(root) = parse.root.as_ref() {
                let template = phase_template(root);
                assert!(template.phases.len() <= 2);
            }
        }
    }

    #[test]
    fn the_task_placeholder_is_substituted_and_nothing_else() {
        assert_eq!(substitute_task("docs/{task}/a-{task}.md ${HOME} {x}", "T-1"), "docs/T-1/a-T-1.md ${HOME} {x}");
    }

    #[test]
    fn placeholders_are_names_in_braces_not_shell_syntax() {
        let text = "a/{task}/{taks}/{ Task }/{task_id} ${HOME} {} {a,b} awk '{print $1}' {1x}";
        let found: Vec<(&str, &str)> =
            placeholders(text).iter().map(|p| (&text[p.span.start..p.span.end], p.name)).collect();
        assert_eq!(found, [("{task}", "task"), ("{taks}", "taks"), ("{ Task }", "Task"), ("{task_id}", "task_id")]);
        assert!(placeholders(text)[0].is_task(text));
        assert!(!placeholders(text)[1].is_task(text));
    }

    #[test]
    fn the_namespace_lists_what_the_tests_accept() {
        assert!(is_artifact_test("required", "all_exist"));
        assert!(is_artifact_test("optional", "any_exist"));
        assert!(!is_artifact_test("required", "any_exist"));
        assert!(!is_artifact_test("extra", "missing"));
        for (name, _) in VALIDATION_NAMES {
            assert!(VALIDATION_ROOTS.contains(&name.split('.').next().unwrap()), "{name}");
        }
    }
}
