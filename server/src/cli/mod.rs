//! The command line: argument parsing and rendering. All analysis happens in `crate::analysis`.

pub mod check;
pub mod export;
pub mod fix;
/// Finding and reading files, shared with the language server.
pub use crate::fs as files;
pub mod graph;
pub mod render;
pub mod report;
pub mod run;
pub mod search;
pub mod session;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use graph::GraphFormat;
use render::Format;

/// weft checks, runs and explains workflow and plan files.
#[derive(Parser, Debug)]
#[command(name = "weft", version, about, long_about = None, after_help = "Examples:\n  weft check examples/\n  weft check --fix .\n  weft run examples/release/release.plan.yaml\n  weft events 1 > run-1.jsonl\n  weft session start T-7\n  weft phase complete T-7\n  weft search \"connection refused\" --since 7d\n  weft failures\n  weft check --format github .\n  weft graph examples/release/release.plan.yaml --format mermaid\n  weft export argo ci.workflow.yaml -o ci.argo.yaml")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check workflow, plan and weft.yaml files; exit 1 when errors are found, 2 on usage or I/O errors.
    Check {
        /// Files and folders to check (folders are searched recursively). Default: the current folder.
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// When to colour human output.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
        /// Apply the safe fixes and write the files: a misspelt id with exactly one close match, a
        /// self-dependency removed. Prints each change, then reports (and exits by) what remains.
        #[arg(long)]
        fix: bool,
    },
    /// Run a workflow or plan on the embedded engine; prints the run id on its first line. Exit 0 when
    /// the run succeeded, 1 when it did not, 2 when it could not start (errors in the file, a lock).
    Run {
        /// The workflow or plan file.
        file: PathBuf,
        /// Run only this stage (its dependencies count as done unless --with-deps).
        #[arg(long)]
        stage: Option<String>,
        /// With --stage: also run everything the stage depends on.
        #[arg(long)]
        with_deps: bool,
        /// Write every run event to this file as JSON lines.
        #[arg(long)]
        events: Option<PathBuf>,
        /// Start even if a run of the same file is active in this workspace.
        #[arg(long)]
        allow_concurrent: bool,
        /// Stream each step's output as it runs (`step | line`; `step ! line` for stderr).
        #[arg(long, short = 'f')]
        follow: bool,
        /// Run every step on this executor, whatever the file says (its `executor` settings and
        /// the steps' own): `local` runs processes on this machine, `slurm` submits each attempt
        /// as a Slurm batch job.
        #[arg(long, value_name = "EXECUTOR")]
        executor: Option<crate::engine::plan::ExecutorKind>,
        /// Write Prometheus metrics of the run to FILE (text format, for node_exporter's textfile
        /// collector), at the end of each step and of the run, atomically; instead of where the
        /// file's `metrics:` setting says.
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
    },
    /// Continue an interrupted or failed run: succeeded steps are not run again. Exit as `weft run`.
    #[command(after_help = "Examples:\n  weft resume 3\n  weft resume 3 --skip deploy --reason \"done by hand\"")]
    Resume {
        /// A run id, or a file (its latest unfinished run). Default: the latest unfinished run here.
        target: Option<String>,
        /// The workspace whose history to use (default: the one of the current folder).
        #[arg(long)]
        workspace: Option<PathBuf>,
        /// Write every event of the resumed run to this file as JSON lines (as `weft run --events`).
        #[arg(long)]
        events: Option<PathBuf>,
        /// Record this step, which failed (or timed out, was canceled or interrupted), as skipped
        /// before going on: an override event names who and why; its dependents then run.
        #[arg(long, value_name = "STEP")]
        skip: Option<String>,
        /// Why the step is skipped (recorded with the override).
        #[arg(long, requires = "skip")]
        reason: Option<String>,
        /// Run the steps that run again on this executor, whatever the file says. Default: the
        /// one `weft run --executor` (or an earlier resume) gave, else the file's settings.
        #[arg(long, value_name = "EXECUTOR")]
        executor: Option<crate::engine::plan::ExecutorKind>,
        /// Write Prometheus metrics to FILE. Default: where `weft run --metrics` (or an earlier
        /// resume) wrote them, else where the file's `metrics:` setting says.
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
    },
    /// Undo a run's completed stages: their rollback actions run in reverse order of completion,
    /// with the rollback hooks, and each undone stage shows `rolled_back`. Exit 0 when every one
    /// was undone, 1 when one failed, 2 when there is nothing to undo or the run has not ended.
    #[command(after_help = "Examples:\n  weft rollback 3\n  weft rollback 3 --to build")]
    Rollback {
        run: i64,
        /// Undo only the stages that completed after this one (back to the checkpoint of STEP).
        #[arg(long, value_name = "STEP")]
        to: Option<String>,
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Approve a step that waits for approval (`approval:` in the file): its action, if any, runs
    /// and the run goes on. Works from any terminal, while the run waits or while it is interrupted
    /// (`weft resume` then finds the decision). Exit 0 when recorded, 2 when it cannot be (no such
    /// run or step, the step is not waiting, it was already decided).
    #[command(
        after_help = "Examples:\n  weft approve 3 deploy\n  weft approve 3 deploy --reason \"checked the staging run\""
    )]
    Approve {
        run: i64,
        step: String,
        /// Why (recorded with the decision).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Reject a step that waits for approval: it fails with the reason (it is not retried), and
    /// the run goes on by the step's failure policy. Exit as `weft approve`.
    #[command(after_help = "Examples:\n  weft reject 3 deploy --reason \"not during the freeze\"")]
    Reject {
        run: i64,
        step: String,
        /// Why the step is rejected (required; the step fails with it).
        #[arg(long, required = true)]
        reason: String,
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Print the events of a run as JSON lines: the same records `weft run --events FILE` writes.
    Events {
        run: i64,
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Show a run and its steps (default: the latest run).
    Status {
        run: Option<i64>,
        /// `human` or `json`.
        #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
        format: StatusFormat,
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Cancel a running run (from another terminal); its processes are stopped.
    Cancel {
        run: i64,
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// List past runs, of one file or of the whole workspace.
    History {
        file: Option<PathBuf>,
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Print the output of a step of a run.
    Logs {
        run: i64,
        step: String,
        /// Which attempt (default: the last).
        #[arg(long)]
        attempt: Option<i64>,
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Serve the Language Server Protocol on stdin/stdout (for editors).
    Lsp {
        /// Use stdin/stdout (the default and only transport; accepted because clients pass it).
        #[arg(long)]
        stdio: bool,
        /// Write logs to this file instead of stderr (filter with WEFT_LOG, e.g. WEFT_LOG=debug).
        #[arg(long)]
        log_file: Option<PathBuf>,
    },
    /// Search the history: run and session events, phase notes and step output tails, best match
    /// first, the matched words marked. Exit 0 (with or without matches), 2 on a usage error.
    #[command(
        after_help = "Examples:\n  weft search \"connection refused\"\n  weft search flaky --task T-42 --since 7d\n  weft search quota --kind step_failed --format json"
    )]
    Search {
        /// Words to find (all of them, in any order).
        text: String,
        /// `session` (the task's active or latest session), `task` (every session of --task), or
        /// `project` (everything). Default: `task` with --task, else `project`.
        #[arg(long, value_enum)]
        scope: Option<search::SearchScope>,
        #[arg(long)]
        task: Option<String>,
        /// Only what happened since: a date (2026-12-01), a UTC time (2026-12-01T10:00) or an age (12h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Only events of this kind (`step_failed`, `phase_note`, …; `output` for step output tails).
        #[arg(long)]
        kind: Option<String>,
        /// How many results at most.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// `human` or `json`.
        #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
        format: StatusFormat,
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// List the failures seen, one line per fingerprint: how often, first and last seen, the runs and
    /// tasks it hit, and its class (syntax, runtime, timeout, permission, network, missing command,
    /// resource).
    #[command(after_help = "Examples:\n  weft failures\n  weft failures --since 7d --format json")]
    Failures {
        /// Only failures seen since: a date, a UTC time or an age (as `weft search --since`).
        #[arg(long)]
        since: Option<String>,
        /// `human` or `json`.
        #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
        format: StatusFormat,
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Sessions: walk a task through the phases of a template (`*.phases.yaml`, SPEC §7).
    #[command(
        subcommand,
        after_help = "Examples:\n  weft session start T-42\n  weft session start T-42 --template docs/feature.phases.yaml\n  weft phase complete T-42\n  weft session status T-42 --format json\n  weft session end T-42"
    )]
    Session(SessionCommand),
    /// Phases of a task's session: complete the active one (its checks must pass), or add a note.
    #[command(
        subcommand,
        after_help = "Examples:\n  weft phase complete T-42\n  weft phase complete T-42 --override --reason \"reviewed by hand\"\n  weft phase note T-42 \"asked the team about the API limits\""
    )]
    Phase(PhaseCommand),
    /// Export a workflow or plan to another orchestrator (docs/ARGO.md).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Print the dependency graph of a workflow or plan, grouped by wave.
    Graph {
        /// The workflow or plan file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Write an Argo Workflows `Workflow` (as JSON, which is YAML 1.2): one DAG template whose tasks
    /// are the steps, one container template per step (command, env, workingDir, retries with
    /// backoff, deadlines, `when` from conditions on step statuses). What does not translate (a
    /// fallback, an approval, hooks, outputs, skip_if, on_failure other than abort, requires,
    /// expect, rollback, a condition on anything but step statuses) is refused by name, exit 2,
    /// unless --drop names it. Steps run in containers that share no files (docs/ARGO.md).
    #[command(
        after_help = "Examples:\n  weft export argo examples/recovery/recovery.plan.yaml --drop hooks --drop rollback --drop approval\n  weft export argo ci.workflow.yaml -o ci.argo.yaml --image python:3.12-slim\n  weft export argo ci.workflow.yaml > ci.argo.yaml && argo lint ci.argo.yaml"
    )]
    Argo {
        /// The workflow or plan file.
        file: PathBuf,
        /// Write the manifest here instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: Option<PathBuf>,
        /// The container image of every step (default: alpine:3.20).
        #[arg(long)]
        image: Option<String>,
        /// Leave out a construct that does not translate, with a warning, instead of refusing the
        /// file: fallback, approval, hooks, outputs, skip_if, on_failure, condition, requires,
        /// expect, rollback. Repeat for several.
        #[arg(long, value_name = "WHAT")]
        drop: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SessionCommand {
    /// Start a session of TASK on a phase template (an active session of TASK is resumed, never
    /// duplicated): records it in .weft/weft.db, runs the first phase's on_start hooks, and prints
    /// the phase, its goal, required artifacts and next step. Exit 0, or 2 when it cannot start
    /// (a template with errors, several templates and no --template, a bad task id).
    #[command(
        after_help = "Examples:\n  weft session start T-42\n  weft session start login-page --template docs/feature.phases.yaml"
    )]
    Start {
        /// The task id: letters, digits, `_`, `.` and `-`.
        task: String,
        /// The phase template (default: the only *.phases.yaml in the workspace).
        #[arg(long)]
        template: Option<PathBuf>,
        /// The workspace whose history to use (default: the one of the current folder: the nearest
        /// folder with a weft.yaml, else the current folder).
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Show sessions and their phases: ✓ completed, ⚠ overridden (reason, by whom), ▶ active (with
    /// the checks its last completion failed), · pending; times, run ids, and the commits made
    /// during each phase. Without TASK: every active session.
    #[command(after_help = "Examples:\n  weft session status\n  weft session status T-42 --format json")]
    Status {
        /// The task whose session to show (its active one, else its latest). Default: every
        /// active session.
        task: Option<String>,
        /// `human` or `json` (the shape is in the README).
        #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
        format: StatusFormat,
        /// The workspace whose history to use (default: the one of the current folder: the nearest
        /// folder with a weft.yaml, else the current folder).
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// List every session, active and ended, newest first.
    List {
        #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
        format: StatusFormat,
        /// The workspace whose history to use (default: the one of the current folder: the nearest
        /// folder with a weft.yaml, else the current folder).
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// End the active session of TASK (whatever phase it is at).
    #[command(after_help = "Examples:\n  weft session end T-42")]
    End {
        /// The task whose active session to end.
        task: String,
        /// The workspace whose history to use (default: the one of the current folder: the nearest
        /// folder with a weft.yaml, else the current folder).
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PhaseCommand {
    /// Complete the active phase of TASK's session: checks every required artifact (an empty file
    /// counts as missing) and every validation entry and reports each failure by name; runs the
    /// phase's workflow, if it has one (it must succeed); runs the on_end hooks and the next
    /// phase's on_start hooks; prints the next phase's goal and next step. Exit 0 completed, 1
    /// refused (a check or the run failed; the phase stays active), 2 when it could not be tried
    /// (no active session, another `weft phase complete` of TASK running).
    #[command(
        after_help = "Examples:\n  weft phase complete T-42\n  weft phase complete T-42 --override --reason \"the reviewer signed off on paper\""
    )]
    Complete {
        /// The task whose active phase to complete.
        task: String,
        /// Complete even if checks fail; records who, when, why and which checks failed.
        #[arg(long = "override", requires = "reason")]
        override_: bool,
        /// Why the phase is completed despite failing checks (needed with --override).
        #[arg(long, requires = "override_")]
        reason: Option<String>,
        /// The workspace whose history to use (default: the one of the current folder: the nearest
        /// folder with a weft.yaml, else the current folder).
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
    /// Add a note to the active phase of TASK's session (found later by `weft search`).
    #[command(after_help = "Examples:\n  weft phase note T-42 \"the API allows 100 requests a minute\"")]
    Note {
        task: String,
        /// The note: any text (quote it).
        text: String,
        /// The workspace whose history to use (default: the one of the current folder: the nearest
        /// folder with a weft.yaml, else the current folder).
        #[arg(long)]
        workspace: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFormat {
    Human,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour when standard output is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // clap uses exit 0 for --help and --version and 2 for usage errors, as SPEC §10 wants.
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    if !matches!(
        cli.command,
        Command::Run { .. }
            | Command::Resume { .. }
            | Command::Rollback { .. }
            | Command::Lsp { .. }
            | Command::Phase(_)
    ) {
        // Like other command-line tools, end quietly when the reader of our output goes away
        // (`weft check | head`). Runs keep going and print nothing more instead.
        crate::engine::signals::restore_default_sigpipe();
    }
    let status = match cli.command {
        Command::Check { paths, format, color, fix } => check::run(&paths, format, color.enabled(), fix),
        Command::Graph { file, format } => graph::run(&file, format),
        Command::Export(ExportCommand::Argo { file, output, image, drop }) => {
            export::argo(&file, output.as_ref(), image, &drop)
        }
        Command::Session(command) => match command {
            SessionCommand::Start { task, template, workspace } => {
                session::start(&task, template.as_deref(), workspace.as_deref())
            }
            SessionCommand::Status { task, format, workspace } => {
                session::status(task.as_deref(), format == StatusFormat::Json, workspace.as_deref())
            }
            SessionCommand::List { format, workspace } => {
                session::list(format == StatusFormat::Json, workspace.as_deref())
            }
            SessionCommand::End { task, workspace } => session::end(&task, workspace.as_deref()),
        },
        Command::Phase(command) => match command {
            PhaseCommand::Complete { task, override_, reason, workspace } => {
                session::complete(&task, reason.filter(|_| override_), workspace.as_deref())
            }
            PhaseCommand::Note { task, text, workspace } => session::note(&task, &text, workspace.as_deref()),
        },
        Command::Run { file, stage, with_deps, events, allow_concurrent, follow, executor, metrics } => {
            run::run(run::RunArgs {
                file: &file,
                stage,
                with_deps,
                events: events.as_deref(),
                allow_concurrent,
                follow,
                executor,
                metrics: metrics.as_deref(),
            })
        }
        Command::Resume { target, workspace, events, skip, reason, executor, metrics } => {
            run::resume(run::ResumeArgs {
                target: target.as_deref(),
                workspace: workspace.as_deref(),
                events: events.as_deref(),
                skip,
                reason,
                executor,
                metrics: metrics.as_deref(),
            })
        }
        Command::Events { run, workspace } => run::events(run, workspace.as_deref()),
        Command::Approve { run, step, reason, workspace } => {
            run::decide(run, &step, true, reason.as_deref(), workspace.as_deref())
        }
        Command::Reject { run, step, reason, workspace } => {
            run::decide(run, &step, false, Some(&reason), workspace.as_deref())
        }
        Command::Rollback { run, to, workspace } => run::rollback(run, to.as_deref(), workspace.as_deref()),
        Command::Status { run, format, workspace } => {
            run::status(run, format == StatusFormat::Json, workspace.as_deref())
        }
        Command::Cancel { run, workspace } => run::cancel(run, workspace.as_deref()),
        Command::History { file, workspace } => run::history(file.as_deref(), workspace.as_deref()),
        Command::Logs { run, step, attempt, workspace } => run::logs(run, &step, attempt, workspace.as_deref()),
        Command::Search { text, scope, task, since, kind, limit, format, color, workspace } => {
            search::search(search::SearchArgs {
                text: &text,
                scope,
                task: task.as_deref(),
                since: since.as_deref(),
                kind: kind.as_deref(),
                limit,
                json: format == StatusFormat::Json,
                color: color.enabled(),
                workspace: workspace.as_deref(),
            })
        }
        Command::Failures { since, format, workspace } => {
            search::failures(since.as_deref(), format == StatusFormat::Json, workspace.as_deref())
        }
        Command::Lsp { stdio: _, log_file } => match crate::lsp::run(&crate::lsp::LspOptions { log_file }) {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("error: {error}");
                1
            }
        },
    };
    ExitCode::from(status)
}
