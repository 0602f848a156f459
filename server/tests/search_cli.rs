//! `weft search` over a real history (SPEC §7): events and step output tails, ranked, with the
//! match marked, filtered by kind, time and scope.

mod engine_support;

use engine_support::Project;

#[test]
fn search_finds_output_tails_and_events_with_the_match_marked() {
    let project = Project::new("search");
    project.write(
        "db.plan.yaml",
        "plan_id: db\nsteps:\n  - { id: migrate, run: 'echo applying schema 42; echo \"psql: connection refused by db-7\" >&2; exit 3' }\n  - { id: seed, run: 'echo seeded rows', depends_on: [migrate] }\n",
    );
    let out = project.weft(&["run", "db.plan.yaml"]);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_id();

    let found = project.weft(&["search", "connection refused", "--format", "json"]);
    assert_eq!(found.code, 0, "{found}");
    let report: serde_json::Value = serde_json::from_str(&found.stdout).unwrap();
    let hits = report["hits"].as_array().unwrap();
    let output = hits.iter().find(|hit| hit["source"] == "output").unwrap_or_else(|| panic!("{found}"));
    assert_eq!(output["run"], run);
    assert_eq!(output["step"], "migrate");
    assert_eq!(output["attempt"], 1);
    assert!(output["snippet"].as_str().unwrap().contains("[connection] [refused]"), "{output}");

    // Plain text when piped: the match between brackets.
    let human = project.weft(&["search", "refused"]);
    assert!(human.stdout.contains("output") && human.stdout.contains("[refused]"), "{human}");
    assert!(human.stdout.contains(&format!("run {run}")), "{human}");

    // --kind narrows to events of one kind; the failed step's event is found by its step id.
    let failed = project.weft(&["search", "migrate", "--kind", "step_failed", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&failed.stdout).unwrap();
    let kinds: Vec<&str> = report["hits"].as_array().unwrap().iter().map(|h| h["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["step_failed"], "{failed}");

    // Nothing since tomorrow; a word that is nowhere; FTS syntax is taken as words.
    let none = project.weft(&["search", "refused", "--since", "2999-01-01", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&none.stdout).unwrap();
    assert!(report["hits"].as_array().unwrap().is_empty(), "{none}");
    let nowhere = project.weft(&["search", "kubernetes"]);
    assert_eq!((nowhere.code, nowhere.stdout.trim()), (0, "no match for \"kubernetes\""));
    let operators = project.weft(&["search", "\"refused* (db-"]);
    assert_eq!(operators.code, 0, "{operators}");
    assert!(operators.stdout.contains("[refused]"), "{operators}");

    // A task scope without sessions finds nothing; session scope needs a task.
    let task = project.weft(&["search", "refused", "--task", "T-1", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&task.stdout).unwrap();
    assert!(report["hits"].as_array().unwrap().is_empty(), "{task}");
    let usage = project.weft(&["search", "refused", "--scope", "session"]);
    assert_eq!(usage.code, 2, "{usage}");
    let bad_since = project.weft(&["search", "refused", "--since", "last tuesday"]);
    assert_eq!(bad_since.code, 2, "{bad_since}");
    project.assert_integrity();
}

/// A failure seen before is counted, not filed afresh (SPEC §7): the same error at another line,
/// temporary path and time is one fingerprint, listed by `weft failures` with its count and runs,
/// and the run's report says when it was first seen; a different error is another fingerprint.
#[test]
fn a_failure_seen_before_is_counted_and_reported() {
    let project = Project::new("failures");
    let plan = |line: u32| {
        format!(
            "plan_id: f\nsteps:\n  - id: fetch\n    run: |\n      echo 'Traceback (most recent call last):' >&2\n      echo '  File \"/tmp/tmp.{line}x/job.py\", line {line}, in main' >&2\n      echo \"requests.exceptions.ConnectionError: HTTPSConnectionPool(host='10.0.0.{line}', port=443): Max retries exceeded with url: /v1 (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f{line}a>: Failed to establish a new connection: [Errno 111] Connection refused'))\" >&2\n      exit 1\n"
        )
    };
    project.write("f.plan.yaml", &plan(11));
    let first = project.weft(&["run", "f.plan.yaml"]);
    assert_eq!(first.code, 1, "{first}");
    assert!(!first.stdout.contains("seen"), "a first failure is new: {first}");
    project.write("f.plan.yaml", &plan(97));
    let second = project.weft(&["run", "f.plan.yaml"]);
    assert_eq!(second.code, 1, "{second}");
    assert!(second.stdout.contains("fetch: this failure was seen once before, since "), "{second}");
    assert!(second.stdout.contains(&format!("(first in run {})", first.run_id())), "{second}");

    let listed = project.weft(&["failures", "--format", "json"]);
    assert_eq!(listed.code, 0, "{listed}");
    let report: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{listed}");
    assert_eq!(failures[0]["count"], 2);
    assert_eq!(failures[0]["class"], "network");
    assert_eq!(failures[0]["subject"], "fetch");
    assert_eq!(failures[0]["runs"], serde_json::json!([first.run_id(), second.run_id()]));
    assert!(failures[0]["fingerprint"].as_str().unwrap().starts_with("v1:"));
    let event = &project.events_of(second.run_id(), "step_failed", Some("fetch"))[0];
    assert_eq!(event["fingerprint"], failures[0]["fingerprint"]);

    // Another error is another fingerprint.
    project.write("f.plan.yaml", "plan_id: f\nsteps:\n  - { id: fetch, run: 'echo \"cp: cannot open /etc/shadow: Permission denied\" >&2; exit 1' }\n");
    let third = project.weft(&["run", "f.plan.yaml"]);
    assert!(!third.stdout.contains("seen"), "{third}");
    let human = project.weft(&["failures"]);
    let lines: Vec<&str> = human.stdout.lines().filter(|l| l.starts_with("v1:")).collect();
    assert_eq!(lines.len(), 2, "{human}");
    assert!(lines[0].contains("1×  permission  fetch"), "{human}");
    assert!(lines[1].contains("2×  network  fetch"), "{human}");
    let none = project.weft(&["failures", "--since", "2999-01-01"]);
    assert_eq!(none.stdout.trim(), "no failures recorded since 2999-01-01T00:00:00.000Z");
}
