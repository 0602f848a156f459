//! `weft run --metrics FILE` and the `metrics:` setting (SPEC §11): a real run writes Prometheus
//! text-format metrics that `promtool check metrics` accepts, with the values the run had: a step
//! that failed once and was retried counts both attempts, the run's status is the one series of
//! `weft_run_status`, and a file that cannot be written fails nothing.

mod engine_support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use engine_support::{Project, FAST_DEFAULTS};

const PLAN: &str = r#"plan_id: metrics_demo
steps:
  - id: flaky
    run: "if [ -f tried ]; then exit 0; fi; touch tried; exit 1"
    retries: 1
  - id: build
    run: "true"
  - id: report
    run: "true"
    depends_on: [flaky, build]
"#;

/// The lines of a metric's series (not its `# HELP`/`# TYPE`).
fn series<'t>(text: &'t str, name: &str) -> Vec<&'t str> {
    text.lines().filter(|line| line.starts_with(&format!("{name}{{"))).collect()
}

/// The value of the one series that starts with `prefix` (its labels included).
fn value_of(text: &str, prefix: &str) -> f64 {
    let line = text
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no series `{prefix}` in:\n{text}"));
    line[prefix.len()..].trim().parse().unwrap_or_else(|_| panic!("not a number: {line}"))
}

/// `promtool check metrics < FILE`: exit 0 and nothing to say. Without promtool the check is
/// skipped with a message, except under `CI=true`, where it must run.
fn promtool_accepts(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "promtool is needed under CI=true (Debian's `prometheus` package): {error}"
            );
            eprintln!("skipped: promtool not found ({error}); install Debian's `prometheus` package to run this check");
            return;
        }
    };
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to promtool");
    let output = child.wait_with_output().expect("promtool ran");
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool refused the file:\n{said}\n{text}");
    assert_eq!(said.trim(), "", "promtool has lint warnings:\n{text}");
}

#[test]
fn a_run_writes_its_metrics_and_promtool_accepts_them() {
    let project = Project::new("metrics-cli");
    project.write("metrics.plan.yaml", PLAN);
    std::fs::create_dir_all(project.path("textfile")).unwrap();
    let out = project.weft(&["run", "metrics.plan.yaml", "--metrics", "textfile/weft.prom"]);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_id();
    let text = project.read("textfile/weft.prom");

    assert_eq!(
        series(&text, "weft_run_status"),
        [format!(r#"weft_run_status{{workflow="metrics_demo",run="{run}",status="succeeded"}} 1"#)]
    );
    let steps: Vec<String> = [
        ("pending", 0),
        ("running", 0),
        ("waiting", 0),
        ("succeeded", 3),
        ("failed", 0),
        ("timed_out", 0),
        ("skipped", 0),
        ("canceled", 0),
        ("rolled_back", 0),
    ]
    .iter()
    .map(|(status, count)| {
        format!(r#"weft_run_steps{{workflow="metrics_demo",run="{run}",status="{status}"}} {count}"#)
    })
    .collect();
    assert_eq!(series(&text, "weft_run_steps"), steps);
    // The failed attempt that was retried counts, beside the one that succeeded.
    assert_eq!(
        series(&text, "weft_step_attempts_total"),
        [
            r#"weft_step_attempts_total{workflow="metrics_demo",step="flaky",executor="local",status="succeeded"} 1"#,
            r#"weft_step_attempts_total{workflow="metrics_demo",step="flaky",executor="local",status="failed"} 1"#,
            r#"weft_step_attempts_total{workflow="metrics_demo",step="build",executor="local",status="succeeded"} 1"#,
            r#"weft_step_attempts_total{workflow="metrics_demo",step="report",executor="local",status="succeeded"} 1"#,
        ]
    );
    for step in ["flaky", "build", "report"] {
        let seconds = value_of(
            &text,
            &format!(r#"weft_step_duration_seconds{{workflow="metrics_demo",step="{step}",executor="local"}}"#),
        );
        assert!((0.0..30.0).contains(&seconds), "{step}: {seconds}");
    }
    assert_eq!(series(&text, "weft_step_duration_seconds").len(), 3);
    let run_seconds = value_of(&text, &format!(r#"weft_run_duration_seconds{{workflow="metrics_demo",run="{run}"}}"#));
    assert!((0.0..60.0).contains(&run_seconds), "{run_seconds}");
    let started = value_of(&text, &format!(r#"weft_run_start_time_seconds{{workflow="metrics_demo",run="{run}"}}"#));
    assert!(started > 1.7e9, "{started}");
    for (name, kind) in [
        ("weft_run_status", "gauge"),
        ("weft_run_duration_seconds", "gauge"),
        ("weft_run_start_time_seconds", "gauge"),
        ("weft_run_steps", "gauge"),
        ("weft_step_duration_seconds", "gauge"),
        ("weft_step_attempts_total", "counter"),
    ] {
        assert!(
            text.contains(&format!("\n# TYPE {name} {kind}\n")) || text.starts_with(&format!("# TYPE {name}")),
            "{name}"
        );
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
    }
    // Written beside and renamed: nothing else is left in the collector's folder.
    let left: Vec<String> = std::fs::read_dir(project.path("textfile"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["weft.prom"]);
    promtool_accepts(&text);
}

#[test]
fn the_metrics_setting_is_relative_to_the_file_that_sets_it_and_the_option_wins() {
    // In the plan's `globals`: relative to the plan's folder.
    let project = Project::new("metrics-setting");
    project.write(
        "plans/own.plan.yaml",
        &PLAN.replace("plan_id: metrics_demo\n", "plan_id: own\nglobals:\n  metrics: own.prom\n"),
    );
    let out = project.weft(&["run", "plans/own.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let text = project.read("plans/own.prom");
    assert_eq!(
        series(&text, "weft_run_status"),
        [format!(r#"weft_run_status{{workflow="own",run="{}",status="succeeded"}} 1"#, out.run_id())]
    );
    promtool_accepts(&text);

    // `--metrics` wins over the setting.
    std::fs::remove_file(project.path("plans/tried")).unwrap();
    let out = project.weft(&["run", "plans/own.plan.yaml", "--metrics", "given.prom"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(project.read("given.prom").contains(&format!(r#"run="{}""#, out.run_id())));
    assert!(!project.read("plans/own.prom").contains(&format!(r#"run="{}""#, out.run_id())));

    // In `weft.yaml`'s `defaults`: relative to `weft.yaml`'s folder, for a plan in another one.
    let project = Project::with_config("metrics-project", &format!("{FAST_DEFAULTS}  metrics: metrics/project.prom\n"));
    std::fs::create_dir_all(project.path("metrics")).unwrap();
    project.write("plans/any.plan.yaml", &PLAN.replace("metrics_demo", "any"));
    let out = project.weft(&["run", "plans/any.plan.yaml"]);
    assert_eq!(out.code, 0, "{out}");
    let text = project.read("metrics/project.prom");
    assert!(text.contains(r#"weft_run_status{workflow="any","#), "{text}");
    assert!(!project.exists("plans/metrics"));
}

#[test]
fn a_failed_run_is_shown_failed_and_a_file_that_cannot_be_written_fails_nothing() {
    let project = Project::new("metrics-failed");
    project.write("fails.plan.yaml", "plan_id: fails\nsteps:\n  - { id: broken, run: \"exit 3\", retries: 1 }\n");
    let out = project.weft(&["run", "fails.plan.yaml", "--metrics", "fails.prom"]);
    assert_eq!(out.code, 1, "{out}");
    let text = project.read("fails.prom");
    let run = out.run_id();
    assert_eq!(
        series(&text, "weft_run_status"),
        [format!(r#"weft_run_status{{workflow="fails",run="{run}",status="failed"}} 1"#)]
    );
    assert_eq!(
        series(&text, "weft_step_attempts_total"),
        [r#"weft_step_attempts_total{workflow="fails",step="broken",executor="local",status="failed"} 2"#]
    );
    promtool_accepts(&text);

    // A folder that does not exist: the run goes on and succeeds, and says so once.
    project.write("ok.plan.yaml", "plan_id: ok\nsteps:\n  - { id: a, run: \"true\" }\n  - { id: b, run: \"true\" }\n");
    let out = project.weft(&["run", "ok.plan.yaml", "--metrics", "no/such/folder/ok.prom"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stderr.matches("cannot write the metrics file").count(), 1, "{out}");
    assert!(out.stderr.contains("no/such/folder/ok.prom"), "{out}");
}

#[test]
fn an_unknown_executor_is_refused_with_the_valid_ones() {
    let project = Project::new("metrics-executor-option");
    project.write("ok.plan.yaml", "plan_id: ok\nsteps:\n  - { id: a, run: \"true\" }\n");
    let out = project.weft(&["run", "ok.plan.yaml", "--executor", "slurn"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("invalid value 'slurn' for '--executor <EXECUTOR>'"), "{out}");
    assert!(out.stderr.contains("[possible values: local, slurm]"), "{out}");
    assert!(out.stderr.contains("a similar value exists: 'slurm'"), "{out}");
    assert!(!project.exists(".weft/weft.db"), "nothing ran");

    // `--executor local` runs a file that asks for slurm on this machine.
    project.write(
        "cluster.plan.yaml",
        "plan_id: cluster\nglobals: { executor: slurm }\nsteps:\n  - { id: a, run: \"true\" }\n",
    );
    let out = project.weft(&["run", "cluster.plan.yaml", "--executor", "local", "--metrics", "cluster.prom"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        project
            .read("cluster.prom")
            .contains(r#"weft_step_attempts_total{workflow="cluster",step="a",executor="local",status="succeeded"} 1"#),
        "{}",
        project.read("cluster.prom")
    );
}

/// A step whose first attempt passes its time limit and is retried: that attempt counts as
/// `timed_out`, the retry as `succeeded`.
#[test]
fn a_timed_out_attempt_that_was_retried_counts_as_timed_out() {
    let project = Project::new("metrics-timeout");
    project.write(
        "slow.plan.yaml",
        "plan_id: slow\nsteps:\n  - id: slow_once\n    run: \"if [ -f tried ]; then exit 0; fi; touch tried; exec sleep 30\"\n    timeout_sec: 1\n    retries: 1\n",
    );
    let out = project.weft(&["run", "slow.plan.yaml", "--metrics", "slow.prom"]);
    assert_eq!(out.code, 0, "{out}");
    let text = project.read("slow.prom");
    assert_eq!(
        series(&text, "weft_step_attempts_total"),
        [
            r#"weft_step_attempts_total{workflow="slow",step="slow_once",executor="local",status="succeeded"} 1"#,
            r#"weft_step_attempts_total{workflow="slow",step="slow_once",executor="local",status="timed_out"} 1"#,
        ]
    );
    promtool_accepts(&text);
}

/// While the run goes on, the file shows it running, and a step's end reaches the file within
/// about a second even when no other event follows it (the coordinator wakes at `Metrics::due`).
#[test]
fn the_file_follows_a_run_while_it_goes_on() {
    let project = Project::new("metrics-live");
    project.write(
        "live.plan.yaml",
        "plan_id: live\nsteps:\n  - { id: first, run: \"true\" }\n  - { id: gate, run: \"while [ ! -f go ]; do sleep 0.05; done\", depends_on: [first] }\n",
    );
    let running = project.spawn(&["run", "live.plan.yaml", "--metrics", "live.prom"]);
    let run = running.run_id();
    let status = format!(r#"weft_run_status{{workflow="live",run="{run}",status="running"}} 1"#);
    engine_support::wait_until(std::time::Duration::from_secs(20), "the run shown running", || {
        project.read("live.prom").contains(&status)
    });
    let first_done = format!(r#"weft_run_steps{{workflow="live",run="{run}",status="succeeded"}} 1"#);
    let gate_running = format!(r#"weft_run_steps{{workflow="live",run="{run}",status="running"}} 1"#);
    let shown = std::time::Instant::now();
    let mut seen_after = None;
    while shown.elapsed() < std::time::Duration::from_secs(5) {
        let text = project.read("live.prom");
        if text.contains(&first_done) && text.contains(&gate_running) {
            seen_after = Some(shown.elapsed());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The run ends whatever was seen, so that nothing is left waiting.
    project.write("go", "");
    let out = running.wait();
    assert_eq!(out.code, 0, "{out}");
    let text = project.read("live.prom");
    let seen_after =
        seen_after.unwrap_or_else(|| panic!("the first step's end never reached the file while the run went on"));
    assert!(seen_after < std::time::Duration::from_secs(3), "{seen_after:?}");
    assert!(
        text.contains(&format!(r#"weft_run_status{{workflow="live",run="{run}",status="succeeded"}} 1"#)),
        "{text}"
    );
    assert!(text.contains(&format!(r#"weft_run_steps{{workflow="live",run="{run}",status="succeeded"}} 2"#)), "{text}");
}

#[test]
fn a_resume_writes_where_the_run_wrote_unless_it_is_told_elsewhere() {
    let project = Project::new("metrics-resume");
    // Fails until `fixed` exists.
    project.write(
        "fix.plan.yaml",
        "plan_id: fix\nsteps:\n  - { id: first, run: \"true\" }\n  - { id: second, run: \"test -f fixed\", depends_on: [first] }\n",
    );
    let out = project.weft(&["run", "fix.plan.yaml", "--metrics", "run.prom"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();
    std::fs::remove_file(project.path("run.prom")).unwrap();

    // The second resume is told elsewhere; the first keeps `weft run --metrics`.
    let resumed = project.weft(&["resume", &run.to_string()]);
    assert_eq!(resumed.code, 1, "{resumed}");
    let text = project.read("run.prom");
    assert_eq!(
        series(&text, "weft_run_status"),
        [format!(r#"weft_run_status{{workflow="fix",run="{run}",status="failed"}} 1"#)]
    );
    project.write("fixed", "");
    let resumed = project.weft(&["resume", &run.to_string(), "--metrics", "elsewhere.prom"]);
    assert_eq!(resumed.code, 0, "{resumed}");
    let text = project.read("elsewhere.prom");
    assert_eq!(
        series(&text, "weft_run_status"),
        [format!(r#"weft_run_status{{workflow="fix",run="{run}",status="succeeded"}} 1"#)]
    );
    // Counters start again from zero at a resume (docs/METRICS.md): this engine ran `second` once.
    assert_eq!(
        series(&text, "weft_step_attempts_total"),
        [r#"weft_step_attempts_total{workflow="fix",step="second",executor="local",status="succeeded"} 1"#]
    );
    promtool_accepts(&text);
    assert!(project.read("run.prom").contains(r#"status="failed"} 1"#), "the old file is left as it was");
    let recorded: Vec<_> = project.events_of(run, "run_resumed", None).iter().map(|d| d["metrics"].clone()).collect();
    assert_eq!(
        recorded,
        [
            serde_json::json!(project.path("run.prom").display().to_string()),
            serde_json::json!(project.path("elsewhere.prom").display().to_string())
        ]
    );
}
