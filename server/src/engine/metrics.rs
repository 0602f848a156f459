//! Prometheus metrics of a run (`weft run --metrics FILE`, or `metrics:` in the file's settings),
//! written in the text format for node_exporter's textfile collector: at the end of each step and
//! of the run, atomically (written beside, then renamed).
//!
//! (Skeleton: filled in by the metrics work of issue 15.)

use std::path::PathBuf;

use serde_json::Value;

use super::plan::ExecPlan;
use super::EventKind;
use crate::store::RunId;

/// What a run's metrics file shows, kept up to date from the run's events.
pub struct Metrics {
    path: PathBuf,
}

impl Metrics {
    pub fn new(path: PathBuf, _plan: &ExecPlan, _run: RunId) -> Metrics {
        Metrics { path }
    }

    /// Takes one of the run's events (`step` indexes the plan's steps).
    pub fn observe(&mut self, _kind: EventKind, _step: Option<usize>, _data: &Value) {
        let _ = &self.path;
    }
}
