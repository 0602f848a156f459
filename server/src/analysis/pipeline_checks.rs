//! The checks of a workflow or plan: ids, dependencies, cycles, fallbacks, resources, plugins,
//! inputs, expressions and timeouts.

use std::path::Path;

use foldhash::{HashMap, HashMapExt};

use crate::model::{ExecutorKind, Pipeline, PipelineKind, Plugin, ProjectConfig};
use crate::syntax::Node;

use super::edits;
use super::expressions::{check_expression, Scope};
use super::graph::StepGraph;
use super::held_back::HeldBack;
use super::inputs::inputs_validator;
use super::plugin_stub::add_plugin_stub;
use super::schema::{check_against, TreeValidator};
use super::suggest::{close_matches, did_you_mean_any, did_you_mean_help};
use super::{Code, Diagnostic, Fix, Location, Related};

/// The project config a workflow's plugins come from.
pub struct ConfigContext<'a, 't> {
    pub path: &'a Path,
    pub text: &'a str,
    pub config: &'a ProjectConfig<'t>,
    /// False when `weft.yaml` has syntax errors, so a missing plugin may be in the part that was lost.
    pub complete: bool,
}

pub struct PipelineChecks<'a, 't> {
    pub source: &'a str,
    pub pipeline: &'a Pipeline<'t>,
    pub graph: &'a StepGraph,
    /// False when the file has syntax errors: checks that need the whole file hold back.
    pub complete: bool,
    pub config: Option<&'a ConfigContext<'a, 't>>,
    /// Steps that lost values to a syntax error or whose upstream graph is not known: checks that
    /// need those hold back for them (one root cause, one diagnostic).
    pub held_back: &'a HeldBack,
}

/// The config's plugins by id (the first of a repeated id, as [`ProjectConfig::plugin`] finds).
type PluginIndex<'a, 't> = HashMap<&'t str, &'a Plugin<'t>>;

impl<'a, 't> PipelineChecks<'a, 't> {
    pub fn run(&self, out: &mut Vec<Diagnostic>) {
        let plugins = self.plugin_index();
        self.duplicate_ids(out);
        self.dependencies(out);
        self.cycles(out);
        self.fallbacks(out);
        self.resources(&plugins, out);
        self.plugins(&plugins, out);
        self.expressions(out);
        self.timeouts(out);
        self.executor_options(out);
    }

    /// Looked up for every step, so a map rather than a scan of the config's plugins each time.
    fn plugin_index(&self) -> PluginIndex<'a, 't> {
        let mut index = HashMap::new();
        if let Some(context) = self.config {
            for plugin in &context.config.plugins {
                index.entry(plugin.id.text).or_insert(plugin);
            }
        }
        index
    }

    fn noun(&self) -> &'static str {
        self.pipeline.kind.step_noun()
    }

    fn duplicate_ids(&self, out: &mut Vec<Diagnostic>) {
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(self.pipeline.steps.len());
        for step in &self.pipeline.steps {
            let Some(id) = step.id else { continue };
            match first.get(id.text) {
                Some(&start) => out.push(
                    Diagnostic::new(Code::DuplicateId, id.span, format!("duplicate {} id `{}`", self.noun(), id.text))
                        .with_related(
                            None,
                            crate::syntax::Span::new(start, start + id.text.len().min(id.span.len())),
                            "first defined here",
                        )
                        .with_help(format!("{} ids must be unique in a file", self.noun())),
                ),
                None => {
                    first.insert(id.text, id.span.start);
                }
            }
        }
    }

    fn dependencies(&self, out: &mut Vec<Diagnostic>) {
        let noun = self.noun();
        for step in &self.pipeline.steps {
            let own = step.id.map(|id| id.text);
            for (index, name) in step.depends_on.iter().enumerate() {
                if Some(name.text) == own {
                    // Looked up only here: a linear scan of the step's keys that most steps never need.
                    let fix = step.node.get("depends_on").and_then(|list| {
                        edits::remove_from_list(
                            self.source,
                            list,
                            index,
                            format!("Remove `{}` from depends_on", name.text),
                        )
                    });
                    out.push(
                        Diagnostic::new(Code::SelfDependency, name.span, format!("`{}` depends on itself", name.text))
                            .with_help(format!("a {noun} cannot wait for itself; remove it from `depends_on`"))
                            .with_fix(fix.map(Fix::marked_safe)),
                    );
                } else if self.graph.lookup(name.text).is_none() && self.complete {
                    out.push(self.unknown_id(name.text, name.span, "depends_on", own));
                }
            }
            if let Some(fallback) = step.fallback {
                if Some(fallback.text) == own {
                    out.push(
                        Diagnostic::new(
                            Code::SelfDependency,
                            fallback.span,
                            format!("`{}` is its own fallback", fallback.text),
                        )
                        .with_help("a fallback runs in place of a failed step, so it must be another one"),
                    );
                } else if self.graph.lookup(fallback.text).is_none() && self.complete {
                    out.push(self.unknown_id(fallback.text, fallback.span, "fallback", own));
                }
            }
        }
    }

    /// `own` is the id of the step that names `name`: never suggested, since a step cannot wait for
    /// itself or be its own fallback.
    fn unknown_id(&self, name: &str, span: crate::syntax::Span, field: &str, own: Option<&str>) -> Diagnostic {
        let matches = close_matches(name, self.graph.ids().filter(|id| Some(*id) != own));
        let mut diagnostic = Diagnostic::new(
            Code::UnknownDependency,
            span,
            format!("`{field}` names `{name}`, which is not a {} in this file", self.noun()),
        );
        diagnostic.help = did_you_mean_any(&matches);
        diagnostic.fixes = replacements(self.source, span, &matches);
        diagnostic
    }

    fn cycles(&self, out: &mut Vec<Diagnostic>) {
        let steps = &self.pipeline.steps;
        let id = |index: usize| steps[index].id.map_or("?", |id| id.text);
        for cycle in self.graph.cycles() {
            let mut path: Vec<&str> = cycle.iter().map(|edge| id(edge.dependency)).collect();
            path.push(id(cycle[0].dependency));
            // The diagnostic sits on the edge that closes the cycle at its earliest-declared step.
            let closing = cycle.last().expect("a cycle has edges");
            let span = steps[closing.step].depends_on[closing.item].span;
            let mut diagnostic = Diagnostic::new(Code::Cycle, span, format!("dependency cycle: {}", path.join(" → ")))
                .with_help(format!(
                "each {} waits for the one before it in this path, so none can start; remove one of the dependencies",
                self.noun()
            ));
            diagnostic.related = cycle
                .iter()
                .map(|edge| Related {
                    location: Location { file: None, span: steps[edge.step].depends_on[edge.item].span },
                    message: format!("`{}` depends on `{}`", id(edge.step), id(edge.dependency)),
                })
                .collect();
            out.push(diagnostic);
        }
    }

    fn fallbacks(&self, out: &mut Vec<Diagnostic>) {
        for (position, step) in self.pipeline.steps.iter().enumerate() {
            let (Some(fallback), Some(own)) = (step.fallback, step.id) else {
                continue;
            };
            let Some(target) = self.graph.lookup(fallback.text) else {
                continue;
            };
            if target == position {
                continue;
            }
            let message = if self.graph.is_upstream(target, position) {
                format!(
                    "fallback `{}` is also a dependency of `{}`: it runs before `{}`, never in its place",
                    fallback.text, own.text, own.text
                )
            } else if self.graph.is_upstream(position, target) {
                format!("fallback `{}` depends on `{}`, so it can never run in place of it", fallback.text, own.text)
            } else {
                continue;
            };
            out.push(
                Diagnostic::new(Code::UnreachableFallback, fallback.span, message)
                    .with_help("name a step that is neither upstream nor downstream of this one"),
            );
        }
    }

    fn resources(&self, plugins: &PluginIndex<'a, 't>, out: &mut Vec<Diagnostic>) {
        // The steps that provide each key: by their own `provides` and by their plugin's `outputs`.
        let mut providers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (position, step) in self.pipeline.steps.iter().enumerate() {
            let outputs = step.script.and_then(|script| plugins.get(script.text)).map(|plugin| &plugin.outputs[..]);
            for key in step.provides.iter().chain(outputs.unwrap_or_default()) {
                providers.entry(key.text).or_default().push(position);
            }
        }
        self.run_expected_outputs(&providers, out);
        for (position, step) in self.pipeline.steps.iter().enumerate() {
            let own = step.id.map_or("this step", |id| id.text);
            for consumed in &step.consumes {
                let Some(candidates) = providers.get(consumed.text) else {
                    // A provider may be in a part of this file, or of the plugins' `outputs`, that was lost.
                    if self.complete && self.held_back.config_complete() {
                        out.push(
                            Diagnostic::new(
                                Code::UnprovidedResource,
                                consumed.span,
                                format!("no {} provides `{}`", self.noun(), consumed.text),
                            )
                            .with_help(
                                did_you_mean_help(consumed.text, providers.keys().copied()).unwrap_or_else(|| {
                                    format!("add `{}` to the `provides` of an upstream {}", consumed.text, self.noun())
                                }),
                            ),
                        );
                    }
                    continue;
                };
                if candidates.iter().any(|&provider| provider != position && self.graph.is_upstream(provider, position))
                {
                    continue;
                }
                // "Not upstream" needs the whole upstream graph of this step.
                if self.held_back.upstream_unknown(position) && candidates.iter().any(|&provider| provider != position)
                {
                    continue;
                }
                let Some(&provider) = candidates.iter().find(|&&provider| provider != position) else {
                    out.push(Diagnostic::new(
                        Code::UnprovidedResource,
                        consumed.span,
                        format!("`{own}` consumes `{}`, which only it provides", consumed.text),
                    ));
                    continue;
                };
                let provider_id = self.pipeline.steps[provider].id.map_or("?", |id| id.text);
                // Adding the dependency is only a fix when it does not close a cycle.
                let fix = (!self.graph.is_upstream(position, provider)).then(|| {
                    edits::add_to_list(
                        self.source,
                        step.node,
                        "depends_on",
                        provider_id,
                        format!("Add `{provider_id}` to depends_on"),
                    )
                });
                out.push(
                    Diagnostic::new(
                        Code::UnprovidedResource,
                        consumed.span,
                        format!("`{}` is provided by `{provider_id}`, which is not upstream of `{own}`", consumed.text),
                    )
                    .with_help(format!(
                        "add `{provider_id}` to the `depends_on` of `{own}` so the value exists when `{own}` starts"
                    ))
                    .with_related(
                        None,
                        self.pipeline.steps[provider].id.map_or(step.node.span, |id| id.span),
                        format!("`{provider_id}` provides `{}`", consumed.text),
                    )
                    .with_fix(fix.flatten()),
                );
            }
        }
    }

    /// The outputs of the run-level `expect` (a top-level key): checked when the run ends, so
    /// some step must provide each, by its `provides`, its plugin's `outputs` or its `expect`.
    fn run_expected_outputs(&self, providers: &HashMap<&str, Vec<usize>>, out: &mut Vec<Diagnostic>) {
        let Some(expected) = self.pipeline.root.get("expect").and_then(|e| e.get("outputs")) else { return };
        // A provider may be in a part of this file, or of the plugins' `outputs`, that was lost.
        if !self.complete || !self.held_back.config_complete() {
            return;
        }
        let expected_by_a_step = |key: &str| {
            self.pipeline.steps.iter().any(|step| {
                let outputs = step.node.get("expect").and_then(|e| e.get("outputs"));
                outputs.is_some_and(|list| list.items().iter().any(|item| item.as_str() == Some(key)))
            })
        };
        for item in expected.items() {
            let Some(key) = item.as_str() else { continue };
            if providers.contains_key(key) || expected_by_a_step(key) {
                continue;
            }
            out.push(
                Diagnostic::new(
                    Code::UnprovidedResource,
                    item.span,
                    format!("no {} provides `{key}`, which the run's `expect` names", self.noun()),
                )
                .with_help(
                    did_you_mean_help(key, providers.keys().copied()).unwrap_or_else(|| {
                        format!("add `{key}` to the `provides` of the {} that writes it", self.noun())
                    }),
                ),
            );
        }
    }

    fn plugins(&self, plugins: &PluginIndex<'a, 't>, out: &mut Vec<Diagnostic>) {
        if self.pipeline.kind != PipelineKind::Workflow {
            return;
        }
        let Some(context) = self.config else {
            // One diagnostic for the whole file, not one per stage.
            if let Some(first) = self.pipeline.steps.iter().find_map(|step| step.script) {
                let count = self.pipeline.steps.iter().filter(|step| step.script.is_some()).count();
                out.push(
                    Diagnostic::new(
                        Code::MissingPlugin,
                        first.span,
                        format!(
                            "no weft.yaml at or above this file, so `{}`{} cannot be resolved",
                            first.text,
                            if count > 1 { format!(" and {} other plugin uses", count - 1) } else { String::new() }
                        ),
                    )
                    .with_help("create a weft.yaml in the project folder with a `plugins:` section"),
                );
            }
            return;
        };
        let mut validators: HashMap<&str, Option<(std::sync::Arc<TreeValidator>, serde_json::Value)>> = HashMap::new();
        for (position, step) in self.pipeline.steps.iter().enumerate() {
            let Some(script) = step.script else { continue };
            match plugins.get(script.text).copied() {
                None if context.complete => {
                    let matches = close_matches(script.text, context.config.plugins.iter().map(|p| p.id.text));
                    let mut diagnostic = Diagnostic::new(
                        Code::MissingPlugin,
                        script.span,
                        format!("no plugin `{}` in weft.yaml", script.text),
                    )
                    .with_related(
                        Some(context.path.to_path_buf()),
                        context.config.plugins_node.map_or(crate::syntax::Span::empty(0), |node| node.span),
                        "the project's plugins",
                    );
                    if !matches.is_empty() {
                        diagnostic.help = did_you_mean_any(&matches);
                        diagnostic.fixes = replacements(self.source, script.span, &matches);
                    } else {
                        diagnostic = diagnostic.with_help(format!(
                            "add `{}` under `plugins:` in {}",
                            script.text,
                            context.path.display()
                        ));
                    }
                    out.push(diagnostic.with_fix(add_plugin_stub(context, script.text)));
                }
                None => {}
                // A `with:` or an `inputs` schema that lost values says nothing about the other.
                Some(plugin) if self.held_back.lost_values(position) || self.held_back.plugin_lost(plugin.id.text) => {}
                Some(plugin) => {
                    // Each plugin's validator is looked up once per check, not once per stage.
                    let compiled = validators.entry(plugin.id.text).or_insert_with(|| {
                        plugin.inputs.and_then(|inputs| Some((inputs_validator(inputs)?, inputs.to_json())))
                    });
                    let Some((validator, inputs_json)) = compiled.as_ref() else {
                        continue;
                    };
                    let empty = Node { kind: crate::syntax::NodeKind::Mapping(Vec::new()), span: script.span };
                    let value = step.with.unwrap_or(&empty);
                    let before = out.len();
                    check_against(validator, inputs_json, value, Code::InvalidInput, out);
                    for diagnostic in &mut out[before..] {
                        diagnostic.message = format!("{} (inputs of plugin `{}`)", diagnostic.message, script.text);
                        diagnostic.related.push(Related {
                            location: Location {
                                file: Some(context.path.to_path_buf()),
                                span: plugin.inputs.map_or(plugin.id.span, |inputs| inputs.span),
                            },
                            message: format!("`{}` declares its inputs here", script.text),
                        });
                    }
                }
            }
        }
    }

    fn expressions(&self, out: &mut Vec<Diagnostic>) {
        for (position, step) in self.pipeline.steps.iter().enumerate() {
            for node in &step.expressions {
                let scope = Scope::Step {
                    pipeline: self.pipeline,
                    graph: self.graph,
                    step: position,
                    complete: self.complete,
                    upstream_known: !self.held_back.upstream_unknown(position),
                };
                check_expression(self.source, node, &scope, out);
            }
        }
    }

    fn timeouts(&self, out: &mut Vec<Diagnostic>) {
        // The limit the engine applies: the file's own, else the project's (`weft.yaml` defaults).
        let project_limit = || {
            let context = self.config?;
            let node = context.config.root.get("defaults")?.get("max_step_duration_sec")?;
            Some((node, Some(context.path.to_path_buf())))
        };
        let Some((limit_node, limit_file)) =
            self.pipeline.max_step_duration.map(|node| (node, None)).or_else(project_limit)
        else {
            return;
        };
        let Some(limit) = limit_node.as_f64() else {
            return;
        };
        let defaults = self.pipeline.default_timeout.into_iter();
        let steps = self.pipeline.steps.iter().filter_map(|step| step.timeout);
        for timeout_node in defaults.chain(steps) {
            let Some(timeout) = timeout_node.as_f64() else {
                continue;
            };
            if timeout > limit {
                out.push(
                    Diagnostic::new(
                        Code::TimeoutExceedsLimit,
                        timeout_node.span,
                        format!("timeout of {timeout} s is above `max_step_duration_sec` ({limit} s)"),
                    )
                    .with_related(limit_file.clone(), limit_node.span, "the limit is set here")
                    .with_help("the run engine stops a step at the limit anyway; lower the timeout or raise the limit"),
                );
            }
        }
    }
}

impl<'a, 't> PipelineChecks<'a, 't> {
    /// `executor_options` are `sbatch` options: a step that runs locally does not use them, and
    /// neither does anything when no step runs on `slurm`. One pass over the steps.
    fn executor_options(&self, out: &mut Vec<Diagnostic>) {
        let pipeline = self.pipeline;
        if pipeline.default_executor_options.is_none()
            && pipeline.steps.iter().all(|step| step.executor_options.is_none())
        {
            return;
        }
        // The run-wide executor: the file's, else the project's (`weft.yaml` defaults), else local.
        // A value the parser may have lost, or one that is no executor (a `schema` error), is not
        // guessed at.
        let run_wide = match executor_setting(pipeline.default_executor) {
            ExecutorSetting::Unset if !self.complete => ExecutorSetting::Unknown,
            ExecutorSetting::Unset => match self.config {
                Some(context) => {
                    let node = context.config.root.get("defaults").and_then(|defaults| defaults.get("executor"));
                    match executor_setting(node) {
                        ExecutorSetting::Unset if !context.complete => ExecutorSetting::Unknown,
                        ExecutorSetting::Set(kind, node, _) => {
                            ExecutorSetting::Set(kind, node, Some(context.path.to_path_buf()))
                        }
                        other => other,
                    }
                }
                None => ExecutorSetting::Unset,
            },
            other => other,
        };
        let noun = self.noun();
        let mut maybe_on_a_cluster = false;
        for (position, step) in pipeline.steps.iter().enumerate() {
            let own = executor_setting(step.executor);
            let effective = match &own {
                ExecutorSetting::Unset if self.held_back.lost_values(position) => &ExecutorSetting::Unknown,
                ExecutorSetting::Unset => &run_wide,
                set => set,
            };
            let (set_at, file) = match effective {
                ExecutorSetting::Unset => (None, None),
                ExecutorSetting::Set(ExecutorKind::Local, node, file) => (Some(*node), file.as_ref()),
                ExecutorSetting::Set(..) | ExecutorSetting::Unknown => {
                    maybe_on_a_cluster = true;
                    continue;
                }
            };
            if step.executor_options.is_none() {
                continue;
            }
            let Some(key) = step.node.key_of("executor_options") else { continue };
            let who = step.id.map_or_else(|| format!("this {noun}"), |id| format!("{noun} `{}`", id.text));
            let mut diagnostic = Diagnostic::new(
                Code::UnusedExecutorOptions,
                key.span,
                format!("{who} runs locally, so its `executor_options` are not used"),
            )
            .with_help(format!(
                "they are `sbatch` options for `executor: slurm`: set that on the {noun} or in `{}`, or remove them (`weft run --executor slurm` would use them)",
                settings_key(pipeline.kind)
            ));
            if let Some(node) = set_at {
                diagnostic = diagnostic.with_related(file.cloned(), node.span, "`executor: local` is set here");
            }
            out.push(diagnostic);
        }
        if pipeline.default_executor_options.is_none()
            || maybe_on_a_cluster
            || !self.complete
            || pipeline.steps.is_empty()
        {
            return;
        }
        let settings = settings_key(pipeline.kind);
        let Some(key) = pipeline.root.get(settings).and_then(|s| s.key_of("executor_options")) else { return };
        out.push(
            Diagnostic::new(
                Code::UnusedExecutorOptions,
                key.span,
                format!("no {noun} runs on `slurm`, so the `executor_options` of `{settings}` are not used"),
            )
            .with_help(format!(
                "they are `sbatch` options for `executor: slurm`: set that in `{settings}` or on a {noun}, or remove them (`weft run --executor slurm` would use them)"
            )),
        );
    }
}

/// What a file says about where steps run.
enum ExecutorSetting<'t> {
    /// Nothing: the default, `local`.
    Unset,
    /// An executor, set by this node, in another file (`weft.yaml`) when the path is given.
    Set(ExecutorKind, &'t Node, Option<std::path::PathBuf>),
    /// A value that is no executor (reported as `schema`), or one that may have been lost.
    Unknown,
}

fn executor_setting(node: Option<&Node>) -> ExecutorSetting<'_> {
    match node {
        None => ExecutorSetting::Unset,
        Some(node) => match node.as_str().and_then(ExecutorKind::parse) {
            Some(kind) => ExecutorSetting::Set(kind, node, None),
            None => ExecutorSetting::Unknown,
        },
    }
}

/// The key of a file's run-wide settings.
fn settings_key(kind: PipelineKind) -> &'static str {
    match kind {
        PipelineKind::Workflow => "defaults",
        PipelineKind::Plan => "globals",
    }
}

/// One quick fix per close match of a misspelt id; the fix is safe only when the match is the one
/// reading of the typo. A quoted id (always, in a JSON file) is replaced by one in the same quotes.
fn replacements(source: &str, span: crate::syntax::Span, matches: &[&str]) -> Vec<Fix> {
    let quote = match source.as_bytes().get(span.start) {
        Some(b'"') => "\"",
        Some(b'\'') => "'",
        _ => "",
    };
    matches
        .iter()
        .map(|name| {
            let fix = edits::replace(span, &format!("{quote}{name}{quote}"), format!("Replace with `{name}`"));
            if matches.len() == 1 {
                fix.marked_safe()
            } else {
                fix
            }
        })
        .collect()
}
