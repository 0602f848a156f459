//! Publishing diagnostics: the analysis's, the failed steps of the file's last run from the
//! editor, and the failing checks of the sessions of a phase template, for every open file that
//! changed, each list sent once.

use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use lsp_types::notification::PublishDiagnostics;
use lsp_types::{PublishDiagnosticsParams, Url};

use super::dispatch::panic_message;
use super::runs::step_span;
use super::server::Server;
use super::sessions::check_diagnostics;
use super::to_proto;

impl Server {
    /// Publishes the diagnostics of every open file marked dirty.
    pub fn publish_dirty(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        self.sync_workspace();
        for key in std::mem::take(&mut self.dirty) {
            let Some(open) = self.open.get(&key) else { continue };
            let Some(document) = self.workspace.document(&key).cloned() else { continue };
            if document.kind.is_none() && !self.published.contains(&key) {
                continue; // Not a weft file: leave it alone.
            }
            let diagnostics = match catch_unwind(AssertUnwindSafe(|| self.workspace.check(&key))) {
                Ok(diagnostics) => diagnostics,
                Err(panic) => {
                    tracing::error!("analysis of {} panicked: {}", key.display(), panic_message(&panic));
                    continue;
                }
            };
            let source = &document.source;
            let mut converted: Vec<lsp_types::Diagnostic> =
                diagnostics.iter().map(|d| to_proto::diagnostic(self, source, d)).collect();
            // A run failure sits on its step's id where that id is now; a step that is gone takes
            // its failure with it.
            for failure in self.runs.failures.get(&key).into_iter().flatten() {
                if let Some(span) = step_span(&document, &failure.step) {
                    converted.push(to_proto::run_failure(self, source, span, failure));
                }
            }
            // The failing checks of the active phase of each session of a phase template, read from
            // the history: they go when the phase completes or the session ends, wherever that
            // happened.
            for check in check_diagnostics(self, &key, &document) {
                converted.push(to_proto::phase_check(self, source, check.span, &check.message));
            }
            if converted.is_empty() {
                self.published.remove(&key);
            } else {
                self.published.insert(key.clone());
            }
            let hash = hash_of(&converted);
            if self.last_published.get(&key) == Some(&(open.version, hash)) {
                continue;
            }
            self.last_published.insert(key.clone(), (open.version, hash));
            let params =
                PublishDiagnosticsParams { uri: open.uri.clone(), diagnostics: converted, version: Some(open.version) };
            self.notify::<PublishDiagnostics>(params);
        }
    }

    /// A file closed: its diagnostics leave the client.
    pub fn clear_diagnostics(&mut self, key: &Path, uri: Url) {
        self.last_published.remove(key);
        if self.published.remove(key) {
            self.notify::<PublishDiagnostics>(PublishDiagnosticsParams { uri, diagnostics: Vec::new(), version: None });
        }
    }
}

/// A hash of a list as it goes over the wire.
fn hash_of(diagnostics: &[lsp_types::Diagnostic]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(diagnostics).unwrap_or_default().hash(&mut hasher);
    hasher.finish()
}
