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
