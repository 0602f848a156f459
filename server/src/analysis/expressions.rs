//! `invalid-expression`: expressions in `condition`, `skip_if` and hook `when` are parsed with our own
//! parser and every name in them is checked, with positions inside the string.

use crate::model::expr::{self, ExprKind, Segment};
use crate::model::{Pipeline, RUN_STATUSES, STEP_STATUSES};
use crate::syntax::{Node, Span};

use super::graph::{StepGraph, StepIndex};
use super::suggest::did_you_mean_help;
use super::{Code, Diagnostic};

/// The statuses a path's value can be compared with: a step's (`steps.X.status`, a hook's
/// `stage.status`) or a run's (`run.status`, `workflow.status`); `None` for other paths.
pub(crate) fn statuses_of(path: &[&str]) -> Option<&'static [&'static str]> {
    match path {
        ["steps", _, "status"] | ["stage", "status"] => Some(&STEP_STATUSES),
        ["run" | "workflow", "status"] => Some(&RUN_STATUSES),
        _ => None,
    }
}

/// What the names in an expression may refer to.
pub enum Scope<'a, 't> {
    /// A step's `condition` or `skip_if`: `steps.<id>` must exist and be upstream of the step.
    /// `upstream_known` is false when the steps upstream of it are not all known (see `held_back`).
    Step { pipeline: &'a Pipeline<'t>, graph: &'a StepGraph, step: StepIndex, complete: bool, upstream_known: bool },
    /// A hook's `when`: the hook's context.
    Hook,
}

const STEP_ROOTS: [&str; 4] = ["steps", "env", "inputs", "stage"];
const HOOK_ROOTS: [&str; 5] = ["stage", "workflow", "run", "env", "steps"];
const HOOK_STAGE_FIELDS: [&str; 6] = ["id", "name", "status", "attempt", "duration_ms", "error"];
/// `run.*` in a hook's `when`; all but `id` and `status` are set at the run's end (see `HOOK_POINTS`).
const HOOK_RUN_FIELDS: [&str; 6] = ["id", "status", "error", "failed_step", "duration_ms", "steps_run"];

pub fn check_expression(source: &str, node: &Node, scope: &Scope<'_, '_>, out: &mut Vec<Diagnostic>) {
    let Some(text) = node.as_str() else { return };
    let in_source = |span: Span| -> Span {
        match (node.value_offset_in_source(source, span.start), node.value_offset_in_source(source, span.end)) {
            (Some(start), Some(end)) => Span::new(start, end),
            _ => node.span,
        }
    };
    let parsed = match expr::parse(text) {
        Ok(parsed) => parsed,
        Err(error) => {
            out.push(Diagnostic::new(Code::InvalidExpression, in_source(error.span), error.message));
            return;
        }
    };
    for path in parsed.paths() {
        if let Some((span, message, help)) = check_path(path, scope) {
            let mut diagnostic = Diagnostic::new(Code::InvalidExpression, in_source(span), message);
            diagnostic.help = help;
            out.push(diagnostic);
        }
    }
    for (path, literals) in parsed.compared_literals() {
        let names: Vec<&str> = path.iter().map(|segment| segment.name.as_str()).collect();
        let Some(statuses) = statuses_of(&names) else { continue };
        let is_run_status = statuses == RUN_STATUSES;
        for literal in literals {
            let ExprKind::String(value) = &literal.kind else {
                continue;
            };
            if statuses.contains(&value.as_str()) {
                continue;
            }
            let noun = if is_run_status { "a run status; run statuses" } else { "a status; statuses" };
            let mut diagnostic = Diagnostic::new(
                Code::InvalidExpression,
                in_source(literal.span),
                format!("`{value}` is not {noun} are {}", statuses.join(", ")),
            );
            diagnostic.help = did_you_mean_help(value.as_str(), statuses.iter().copied());
            out.push(diagnostic);
        }
    }
}

type Problem = (Span, String, Option<String>);

fn check_path(path: &[Segment], scope: &Scope<'_, '_>) -> Option<Problem> {
    let root = path.first()?;
    let roots: &[&str] = match scope {
        Scope::Step { .. } => &STEP_ROOTS,
        Scope::Hook => &HOOK_ROOTS,
    };
    if !roots.contains(&root.name.as_str()) {
        let list = roots.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ");
        return Some((
            root.span,
            format!("unknown name `{}`: expressions here can use {list}", root.name),
            did_you_mean_help(&root.name, roots.iter().copied()),
        ));
    }
    let whole = root.span.cover(path.last()?.span);
    match (root.name.as_str(), scope) {
        ("steps", Scope::Step { pipeline, graph, step, complete, upstream_known }) => {
            check_step_path(path, pipeline, graph, *step, *complete, *upstream_known)
        }
        ("steps", Scope::Hook) => None,
        ("env" | "inputs", _) => {
            (path.len() != 2).then(|| (whole, format!("`{}` takes one name: `{}.NAME`", root.name, root.name), None))
        }
        ("stage", Scope::Step { .. }) => field(path, &["id"], whole),
        ("stage", Scope::Hook) => field(path, &HOOK_STAGE_FIELDS, whole),
        ("run", Scope::Hook) => field(path, &HOOK_RUN_FIELDS, whole),
        ("workflow" | "run", _) => field(path, &["id", "status"], whole),
        _ => None,
    }
}

fn field(path: &[Segment], fields: &[&str], whole: Span) -> Option<Problem> {
    let root = &path[0].name;
    match path.get(1) {
        None => Some((whole, format!("`{root}` needs a field: {}", fields.join(", ")), None)),
        Some(name) if !fields.contains(&name.name.as_str()) => Some((
            name.span,
            format!("`{root}` has no field `{}`; it has {}", name.name, fields.join(", ")),
            did_you_mean_help(&name.name, fields.iter().copied()),
        )),
        Some(_) if path.len() > 2 => Some((
            path[2].span.cover(path[path.len() - 1].span),
            format!("`{root}.{}` has no fields", path[1].name),
            None,
        )),
        Some(_) => None,
    }
}

fn check_step_path(
    path: &[Segment],
    pipeline: &Pipeline<'_>,
    graph: &StepGraph,
    step: StepIndex,
    complete: bool,
    upstream_known: bool,
) -> Option<Problem> {
    let noun = pipeline.kind.step_noun();
    let Some(id) = path.get(1) else {
        return Some((path[0].span, format!("`steps` needs a {noun} id: `steps.<id>.status`"), None));
    };
    let Some(target) = graph.lookup(&id.name) else {
        if !complete {
            return None;
        }
        return Some((
            id.span,
            format!("no {noun} `{}` in this file", id.name),
            did_you_mean_help(&id.name, graph.ids()),
        ));
    };
    let own = pipeline.steps[step].id.map_or("this step", |name| name.text);
    if target == step {
        return Some((
            id.span,
            format!("a {noun} cannot test its own result: `{own}` has not finished when this is evaluated"),
            None,
        ));
    }
    // When the steps upstream of this one are not all known, the target may be upstream through
    // the step an unknown id was meant to name: that id is the error, reported where it is.
    if upstream_known && !graph.is_upstream(target, step) {
        return Some((
            id.span,
            format!("`{}` is not upstream of `{own}`: its result is not known when `{own}` starts", id.name),
            Some(format!("add `{}` to the `depends_on` of `{own}`", id.name)),
        ));
    }
    let whole = path[0].span.cover(path[path.len() - 1].span);
    match path.get(2).map(|s| s.name.as_str()) {
        None => Some((whole, format!("`steps.{}` needs a field: `status` or `outputs.<key>`", id.name), None)),
        Some("status") if path.len() == 3 => None,
        Some("status") => Some((path[3].span, "`status` has no fields".into(), None)),
        Some("outputs") => match path.len() {
            3 => Some((
                whole,
                format!("`steps.{}.outputs` needs a key: `steps.{}.outputs.<key>`", id.name, id.name),
                None,
            )),
            4 => None,
            _ => Some((path[4].span, "an output is a plain value and has no fields".into(), None)),
        },
        Some(other) => Some((
            path[2].span,
            format!("a {noun} has `status` and `outputs`, not `{other}`"),
            did_you_mean_help(other, ["status", "outputs"]),
        )),
    }
}
