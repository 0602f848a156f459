//! `weft graph FILE --format dot|mermaid`: the DAG with its waves, ready to paste or render.

use std::fmt::Write as _;
use std::path::Path;

use crate::analysis::graph::StepGraph;
use crate::analysis::Workspace;
use crate::model::Pipeline;

use super::files::{absolute, read_text};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz DOT: `weft graph f.workflow.yaml | dot -Tsvg > f.svg`.
    Dot,
    /// A Mermaid flowchart, which GitHub renders inside ```mermaid blocks.
    Mermaid,
}

/// Prints the graph of a workflow or plan; returns the exit status.
pub fn run(path: &Path, format: GraphFormat) -> u8 {
    let text = match read_text(path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: {}: {error}", path.display());
            return 2;
        }
    };
    let mut workspace = Workspace::new();
    let document = workspace.set(absolute(path), path.to_path_buf(), text);
    let Some(pipeline) = document.pipeline() else {
        eprintln!("error: {}: not a workflow or plan", path.display());
        return 2;
    };
    if !document.parse.errors.is_empty() {
        eprintln!(
            "warning: {} has syntax errors; the graph shows what could be read (run `weft check`)",
            path.display()
        );
    }
    let graph = StepGraph::build(&pipeline);
    let output = match format {
        GraphFormat::Dot => dot(&pipeline, &graph),
        GraphFormat::Mermaid => mermaid(&pipeline, &graph),
    };
    print!("{output}");
    if graph.cycles().is_empty() {
        0
    } else {
        eprintln!("error: {} has a dependency cycle; the steps in it have no wave (run `weft check`)", path.display());
        1
    }
}

/// Steps grouped by wave, in file order within a wave; steps without a wave (in or after a cycle)
/// come last under `None`.
fn by_wave(pipeline: &Pipeline<'_>, graph: &StepGraph) -> Vec<(Option<usize>, Vec<usize>)> {
    let waves = graph.waves();
    let mut groups: Vec<(Option<usize>, Vec<usize>)> = Vec::new();
    let last = waves.iter().flatten().max().copied();
    for wave in (0..=last.unwrap_or(0)).map(Some).chain([None]) {
        let members: Vec<usize> = (0..pipeline.steps.len())
            .filter(|&step| waves[step] == wave && pipeline.steps[step].id.is_some())
            .collect();
        if !members.is_empty() {
            groups.push((wave, members));
        }
    }
    groups
}

fn id<'t>(pipeline: &Pipeline<'t>, step: usize) -> &'t str {
    pipeline.steps[step].id.map_or("?", |id| id.text)
}

fn title(pipeline: &Pipeline<'_>) -> String {
    pipeline.id.map_or_else(|| "workflow".to_owned(), |id| id.text.to_owned())
}

fn wave_label(wave: Option<usize>) -> String {
    wave.map_or_else(|| "in a cycle".to_owned(), |wave| format!("wave {}", wave + 1))
}

fn dot_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn dot(pipeline: &Pipeline<'_>, graph: &StepGraph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", dot_string(&title(pipeline)));
    let _ = writeln!(out, "  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];");
    for (number, (wave, members)) in by_wave(pipeline, graph).into_iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{number} {{\n    label={};\n    style=dashed;",
            dot_string(&wave_label(wave))
        );
        for step in members {
            let _ = writeln!(out, "    {};", dot_string(id(pipeline, step)));
        }
        let _ = writeln!(out, "  }}");
    }
    for step in 0..pipeline.steps.len() {
        for edge in graph.dependencies(step) {
            let _ =
                writeln!(out, "  {} -> {};", dot_string(id(pipeline, edge.dependency)), dot_string(id(pipeline, step)));
        }
        if let Some(fallback) = pipeline.steps[step].fallback.filter(|f| graph.lookup(f.text).is_some()) {
            let _ = writeln!(
                out,
                "  {} -> {} [style=dashed, label=\"fallback\"];",
                dot_string(id(pipeline, step)),
                dot_string(fallback.text)
            );
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid_label(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "#quot;"))
}

pub fn mermaid(pipeline: &Pipeline<'_>, graph: &StepGraph) -> String {
    let mut out = String::from("flowchart LR\n");
    for (number, (wave, members)) in by_wave(pipeline, graph).into_iter().enumerate() {
        let _ = writeln!(out, "  subgraph wave{number}[{}]", mermaid_label(&wave_label(wave)));
        for step in members {
            let _ = writeln!(out, "    s{step}[{}]", mermaid_label(id(pipeline, step)));
        }
        out.push_str("  end\n");
    }
    for step in 0..pipeline.steps.len() {
        for edge in graph.dependencies(step) {
            let _ = writeln!(out, "  s{} --> s{step}", edge.dependency);
        }
        if let Some(target) = pipeline.steps[step].fallback.and_then(|f| graph.lookup(f.text)) {
            let _ = writeln!(out, "  s{step} -. fallback .-> s{target}");
        }
    }
    out
}
