//! The coordinator's scheduling over generated runs, on the scripted executor (no processes, so
//! hundreds of runs take seconds): random DAGs, concurrency limits, scripted durations and exits,
//! retries, timeouts and failure policies. After each run, from its events and its history:
//!
//! - never more attempts at once than `max_concurrency`;
//! - no step starts before every step it depends on has finished;
//! - every step ends once; its attempts are what its script and `retries` make them, and so is
//!   its status; the history records the same attempts;
//! - the run succeeded exactly when every step did;
//! - a time limit counts from when an attempt leaves the queue: a step queued for longer than its
//!   `timeout_sec` that then runs within it is not timed out.
//!
//! Each step has its own command (`true sN`), so the circuit breaker, which counts failures by
//! command, never opens: its own tests are in `engine_policies.rs`.
//!
//! `WEFT_SCHED_SEED` and `WEFT_SCHED_CASES` run other seeds and more cases.

mod common;
mod engine_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::random::Random;
use engine_support::Project;
use weft::engine::plan::ExecutorKind;
use weft::engine::{RunEvent, StartOptions};

const DEFAULT_SEED: u64 = 0x5c4e_d01e;
const DEFAULT_CASES: u64 = 150;

#[derive(Debug)]
struct StepScript {
    deps: Vec<usize>,
    retries: u32,
    /// The exit of each attempt, the last repeated.
    exits: Vec<i32>,
    times_out: bool,
}

impl StepScript {
    /// How many attempts it makes and whether it succeeds, if it starts.
    fn expected(&self) -> (u32, &'static str) {
        let allowed = self.retries + 1;
        if self.times_out {
            return (allowed, "timed_out");
        }
        let exit = |attempt: u32| self.exits[(attempt as usize - 1).min(self.exits.len() - 1)];
        match (1..=allowed).find(|&attempt| exit(attempt) == 0) {
            Some(attempt) => (attempt, "succeeded"),
            None => (allowed, "failed"),
        }
    }
}

fn generate(random: &mut Random) -> (String, Vec<StepScript>, usize, &'static str) {
    let size = 2 + random.below(30);
    let concurrency = 1 + random.below(6);
    let policy = *random.pick(&["continue", "skip_dependents"]);
    let mut yaml =
        format!("plan_id: random\nglobals: {{ max_concurrency: {concurrency}, on_failure: {policy} }}\nsteps:\n");
    let mut steps = Vec::new();
    // A timeout is a whole second (the least `timeout_sec` takes): one step in a few runs.
    let timing_out = random.percent(6).then(|| random.below(size));
    // And one that waits in the queue past its timeout, then runs within it: in a few others.
    let queued_long = random.percent(4).then(|| random.below(size)).filter(|&q| Some(q) != timing_out);
    for index in 0..size {
        let mut deps: Vec<usize> = (0..random.below(3)).filter(|_| index > 0).map(|_| random.below(index)).collect();
        deps.sort_unstable();
        deps.dedup();
        let times_out = timing_out == Some(index);
        let retries = if random.percent(30) && !times_out { 1 + random.below(2) as u32 } else { 0 };
        let exits: Vec<i32> =
            (0..=retries).map(|_| if random.percent(20) { 1 + random.below(5) as i32 } else { 0 }).collect();
        let millis = if times_out { 60_000 } else { random.below(8) };
        let _ = std::fmt::Write::write_fmt(
            &mut yaml,
            format_args!(
                "  - id: s{index}\n    run: \"true s{index}\"\n    retries: {retries}\n    depends_on: [{}]\n",
                deps.iter().map(|d| format!("s{d}")).collect::<Vec<_>>().join(", ")
            ),
        );
        let queue = if queued_long == Some(index) { 1_300 } else { random.below(4) };
        if times_out || queued_long == Some(index) {
            yaml.push_str("    timeout_sec: 1\n");
        }
        yaml.push_str(&format!("    env: {{ WEFT_FAKE_MS: \"{millis}\", WEFT_FAKE_QUEUE_MS: \"{queue}\""));
        for (attempt, exit) in exits.iter().enumerate() {
            yaml.push_str(&format!(", WEFT_FAKE_EXIT_{}: \"{exit}\"", attempt + 1));
        }
        yaml.push_str(" }\n");
        steps.push(StepScript { deps, retries, exits, times_out });
    }
    (yaml, steps, concurrency, policy)
}

fn check(case: &str, steps: &[StepScript], concurrency: usize, policy: &str, events: &[RunEvent], project: &Project) {
    let index = |event: &RunEvent| -> Option<usize> { event.step.as_deref()?.strip_prefix('s')?.parse().ok() };
    let mut running = 0usize;
    let mut finished: Vec<Option<String>> = vec![None; steps.len()];
    let mut starts = vec![0u32; steps.len()];
    for event in events {
        let kind = event.kind.as_str();
        let Some(step) = index(event) else { continue };
        match kind {
            "step_started" => {
                running += 1;
                starts[step] += 1;
                assert!(running <= concurrency, "{case}: {running} attempts at once, limit {concurrency}");
                for &dep in &steps[step].deps {
                    assert!(finished[dep].is_some(), "{case}: s{step} started before s{dep} finished");
                }
            }
            "step_retry_scheduled" => running -= 1,
            "step_succeeded" | "step_failed" | "step_timed_out" | "step_skipped" | "step_canceled" => {
                if event.data["attempt"].as_u64().unwrap_or(0) > 0 && kind != "step_skipped" {
                    running -= 1;
                }
                assert!(finished[step].is_none(), "{case}: s{step} ended twice");
                finished[step] = Some(kind.trim_start_matches("step_").to_owned());
            }
            _ => {}
        }
    }
    let attempts = project.attempts(1, None);
    let mut recorded: HashMap<String, u32> = HashMap::new();
    for attempt in &attempts {
        *recorded.entry(attempt.step_id.clone()).or_default() += 1;
    }
    let mut all_succeeded = true;
    for (step, script) in steps.iter().enumerate() {
        let status = finished[step].clone().unwrap_or_else(|| panic!("{case}: s{step} never ended"));
        all_succeeded &= status == "succeeded";
        let blocked = script.deps.iter().any(|&d| finished[d].as_deref() != Some("succeeded"));
        if starts[step] == 0 {
            assert_eq!(status, "skipped", "{case}: s{step} never started");
            assert!(policy == "skip_dependents" && blocked, "{case}: s{step} skipped without a failed dependency");
            continue;
        }
        let (count, expected) = script.expected();
        assert_eq!((starts[step], status.as_str()), (count, expected), "{case}: s{step} {script:?}");
        assert_eq!(recorded.get(&format!("s{step}")).copied().unwrap_or(0), count, "{case}: s{step} in the history");
    }
    let run = project.run_record(1);
    assert_eq!(run.status.as_str() == "succeeded", all_succeeded, "{case}: run {}", run.status.as_str());
}

#[test]
fn generated_runs_keep_the_scheduling_invariants() {
    let number = |name: &str, default: u64| {
        std::env::var(name).ok().map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
    };
    let seed = number("WEFT_SCHED_SEED", DEFAULT_SEED);
    let cases = number("WEFT_SCHED_CASES", DEFAULT_CASES);
    let mut random = Random(seed);
    for case in 0..cases {
        let (yaml, steps, concurrency, policy) = generate(&mut random);
        let label = format!("WEFT_SCHED_SEED={seed} case {case}");
        let project = Project::new("sched-random");
        let file = project.write("random.plan.yaml", &yaml);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink_events = events.clone();
        let options = StartOptions {
            selection: Default::default(),
            allow_concurrent: false,
            sink: Some(Box::new(move |event: &RunEvent| sink_events.lock().unwrap().push(event.clone()))),
            session: None,
            executor: Some(ExecutorKind::Fake),
            metrics: None,
        };
        let run = weft::engine::start(&file, options).unwrap_or_else(|e| panic!("{label}: {e}\n{yaml}"));
        run.wait().unwrap_or_else(|e| panic!("{label}: {e}"));
        let events = events.lock().unwrap().clone();
        check(&format!("{label}\n{yaml}"), &steps, concurrency, policy, &events, &project);
    }
}
