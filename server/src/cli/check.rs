//! `weft check [PATHS]`: read the files, analyse each in its project, render the report.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use crate::analysis::{Severity, Workspace};
use crate::model::FileKind;

use super::files::{absolute, display_for, read_text, walk, FoundFile};
use super::render::{render, render_fixes, Format};
use super::report::{CheckReport, FileDiagnostics};

/// What loading found: the workspace with every file read, the files to report on, and the files
/// or folders that could not be read.
pub struct Loaded {
    pub workspace: Workspace,
    pub targets: Vec<FoundFile>,
    pub errors: Vec<String>,
}

/// Reads the named files and folders, and what their analysis needs besides: the `weft.yaml`
/// above each file, and the workflows below each `weft.yaml` (for `unused-plugin`).
pub fn load(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded { workspace: Workspace::new(), targets: Vec::new(), errors: Vec::new() };
    let mut seen = HashSet::new();
    for path in paths {
        if path.is_dir() {
            let (files, errors) = walk(path);
            for (folder, error) in errors {
                loaded.errors.push(format!("{}: {error}", folder.display()));
            }
            for file in files {
                let key = absolute(&file);
                // `weft check .` names files `a.workflow.yaml`, not `./a.workflow.yaml`.
                let display = file.strip_prefix(".").map(PathBuf::from).unwrap_or(file);
                if seen.insert(key.clone()) {
                    loaded.read(FoundFile { display, key }, false);
                }
            }
        } else {
            let key = absolute(path);
            if seen.insert(key.clone()) {
                loaded.read(FoundFile { display: path.clone(), key }, true);
            }
        }
    }
    loaded.load_context();
    loaded.targets.sort_by(|a, b| a.display.cmp(&b.display));
    loaded
}

impl Loaded {
    /// Reads one file. Named files must be weft's; files found in a folder are kept only if they are.
    fn read(&mut self, file: FoundFile, named: bool) {
        let text = match read_text(&file.key) {
            Ok(text) => text,
            Err(error) => {
                // A file found in a folder by its extension alone is not worth an error.
                if named || FileKind::from_path(&file.display).is_some() {
                    self.errors.push(format!("{}: {error}", file.display.display()));
                }
                return;
            }
        };
        if !named && FileKind::from_path(&file.key).is_none() && !FileKind::may_be_in_text(&text) {
            return;
        }
        let document = self.workspace.set(file.key.clone(), file.display.clone(), text);
        match document.kind {
            Some(_) => self.targets.push(file),
            None if named => self.errors.push(format!(
                "{}: not a weft file: expected a *.workflow.yaml, *.plan.json/yaml, weft.yaml, or a mapping with `workflow_id` and `stages` or `plan_id` and `steps`",
                file.display.display()
            )),
            None => {
                self.workspace.remove(&file.key);
            }
        }
    }

    fn load_context(&mut self) {
        let targets = self.targets.clone();
        for target in &targets {
            let mut folder = target.key.parent();
            while let Some(dir) = folder {
                let config = dir.join("weft.yaml");
                if self.workspace.contains(&config) {
                    break;
                }
                if config.is_file() {
                    match read_text(&config) {
                        Ok(text) => {
                            self.workspace.set(config.clone(), display_for(&config), text);
                        }
                        Err(error) => self.errors.push(format!("{}: {error}", display_for(&config).display())),
                    }
                    break;
                }
                folder = dir.parent();
            }
        }
        let configs: Vec<PathBuf> = self
            .workspace
            .documents()
            .filter(|(_, document)| document.kind == Some(FileKind::ProjectConfig))
            .map(|(key, _)| key.clone())
            .collect();
        for config in configs {
            let Some(root) = config.parent() else {
                continue;
            };
            let (files, _) = walk(root);
            for file in files {
                if self.workspace.contains(&file) {
                    continue;
                }
                let is_workflow = FileKind::from_path(&file) == Some(FileKind::Workflow);
                let Ok(text) = read_text(&file) else { continue };
                if is_workflow || (FileKind::from_path(&file).is_none() && text.contains("workflow_id")) {
                    self.workspace.set(file.clone(), display_for(&file), text);
                }
            }
        }
    }

    pub fn report(&self) -> CheckReport {
        let mut report = CheckReport::default();
        for (_, document) in self.workspace.documents() {
            report.sources.insert(document.source.path.clone(), document.source.clone());
        }
        for target in &self.targets {
            let Some(document) = self.workspace.document(&target.key) else {
                continue;
            };
            report.files.push(FileDiagnostics {
                file: document.source.clone(),
                diagnostics: self.workspace.check(&target.key),
            });
        }
        report
    }
}

/// Runs `weft check` and returns the exit status: 0 clean, 1 errors found, 2 usage or I/O error.
///
/// With `fix`, the safe fixes are applied and written first (see [`super::fix`]); the changes are
/// listed before the report (on standard error for the formats a program reads, so that standard
/// output stays one document), and the report and the status are those of the fixed files.
pub fn run(paths: &[PathBuf], format: Format, color: bool, fix: bool) -> u8 {
    let paths: Vec<PathBuf> = if paths.is_empty() { vec![PathBuf::from(".")] } else { paths.to_vec() };
    let mut loaded = load(&paths);
    let outcome = fix.then(|| super::fix::apply_safe_fixes(&mut loaded));
    let report = loaded.report();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = (|| {
        if let Some(outcome) = &outcome {
            if format == Format::Human {
                render_fixes(outcome, color, &mut out)?;
            } else {
                let stderr = std::io::stderr();
                render_fixes(outcome, false, &mut stderr.lock())?;
            }
        }
        render(&report, format, color, &mut out)?;
        out.flush()
    })();
    if let Err(error) = written {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write the report: {error}");
        }
        return 2;
    }
    let write_errors = outcome.iter().flat_map(|outcome| &outcome.errors);
    let errors: Vec<&String> = loaded.errors.iter().chain(write_errors).collect();
    for error in &errors {
        eprintln!("error: {error}");
    }
    if !errors.is_empty() {
        return 2;
    }
    let has_errors = report.diagnostics().any(|(_, diagnostic)| diagnostic.severity == Severity::Error);
    u8::from(has_errors)
}
