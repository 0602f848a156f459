//! `weft export argo FILE`: a workflow or plan as an Argo Workflows `Workflow` manifest.
//!
//! The manifest is written as JSON, which is YAML 1.2: `kubectl apply -f` and `argo submit`
//! read it as they read YAML, and no YAML emitter has to be trusted with quoting.

pub mod argo;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::engine;

/// Writes the Argo manifest of `file` to `out` (stdout without); returns the exit status: 0
/// written, 2 when the file has errors, uses what does not translate, or cannot be written.
pub fn argo(file: &Path, out: Option<&PathBuf>, image: Option<String>, drop: &[String]) -> u8 {
    let unknown: Vec<&String> = drop.iter().filter(|d| !argo::DROPPABLE.contains(&d.as_str())).collect();
    if !unknown.is_empty() {
        for what in unknown {
            eprintln!("error: --drop {what}: not a construct to drop (one of {})", argo::DROPPABLE.join(", "));
        }
        return 2;
    }
    let (plan, hooks, _workspace) = match engine::prepare(file) {
        Ok(prepared) => prepared,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let options = argo::ArgoOptions {
        image: image.unwrap_or_else(|| argo::DEFAULT_IMAGE.to_owned()),
        drop: drop.iter().cloned().collect::<BTreeSet<_>>(),
    };
    let export = match argo::export(&plan, &hooks, &options) {
        Ok(export) => export,
        Err(refused) => {
            eprintln!("error: {} does not translate to Argo Workflows:", file.display());
            for line in refused {
                eprintln!("  {line}");
            }
            return 2;
        }
    };
    for warning in &export.warnings {
        eprintln!("warning: {warning}");
    }
    let mut text = serde_json::to_string_pretty(&export.workflow).expect("a JSON value serialises");
    text.push('\n');
    match out {
        Some(out) => {
            if let Err(error) = std::fs::write(out, text) {
                eprintln!("error: {}: {error}", out.display());
                return 2;
            }
        }
        None => print!("{text}"),
    }
    0
}
