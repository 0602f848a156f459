//! A history that comes with a cloned repository is not trusted (issue 11, defect 7).
//!
//! The language server reads `.weft/weft.db` of any folder it is pointed at, and a repository can
//! ship one. Invariants:
//! - Reading a history never creates, migrates or writes it: the file is byte for byte the same after.
//! - A file that is not a database, is damaged, is of another schema version, or has views where
//!   weft's tables belong reads as no history, with one clear message, never a crash.
//! - The connection that reads it has SQLite's defenses on (defensive mode, untrusted schema, no
//!   views or triggers).

mod common;

use std::path::Path;

use common::lsp_client::{uri, LspClient, TempProject};
use rusqlite::config::DbConfig;
use serde_json::json;
use weft::store::Store;

const PLAN: &str = "plan_id: cloned\nsteps:\n  - id: hello\n    run: echo hello\n";

/// A project with a plan and `.weft/weft.db` made by `make` (given the file's path).
fn project_with_history(name: &str, make: impl FnOnce(&Path)) -> TempProject {
    let project = TempProject::new(name);
    project.write("weft.yaml", "plugins: {}\n");
    project.write("cloned.plan.yaml", PLAN);
    std::fs::create_dir_all(project.path.join(".weft")).unwrap();
    make(&project.path.join(".weft/weft.db"));
    project
}

/// A history of this weft's schema, with one finished run, made by the real binary.
fn real_history(project: &TempProject) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["run", "cloned.plan.yaml"])
        .current_dir(&project.path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn garbage(path: &Path) {
    let mut bytes = b"SQLite format 3\0".to_vec();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..16_384 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.push(state as u8);
    }
    std::fs::write(path, bytes).unwrap();
}

fn with_version(version: i64) -> impl FnOnce(&Path) {
    move |path: &Path| {
        let connection = rusqlite::Connection::open(path).unwrap();
        connection
            .execute_batch(&format!(
                "CREATE TABLE runs (id INTEGER PRIMARY KEY, file TEXT); CREATE TABLE steps (x); CREATE TABLE attempts (x); CREATE TABLE events (x); PRAGMA user_version = {version};"
            ))
            .unwrap();
    }
}

fn bytes_of(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn error_of(project: &TempProject) -> String {
    match Store::open_existing(&project.path) {
        Ok(Some(_)) => panic!("the history was read"),
        Ok(None) => panic!("the history was not found"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn no_history_is_none_and_is_not_created() {
    let project = TempProject::new("untrusted-none");
    assert!(Store::open_existing(&project.path).unwrap().is_none());
    assert!(!project.path.join(".weft").exists(), "looking created the history");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let project = project_with_history("untrusted-garbage", garbage);
    let db = project.path.join(".weft/weft.db");
    let before = bytes_of(&db);
    let error = error_of(&project);
    assert!(error.contains("malformed"), "{error}");
    assert_eq!(bytes_of(&db), before);
    assert!(!project.path.join(".weft/weft.db-wal").exists());
}

#[test]
fn a_history_from_a_newer_weft_is_refused_and_left_alone() {
    let project = project_with_history("untrusted-newer", with_version(999));
    let db = project.path.join(".weft/weft.db");
    let before = bytes_of(&db);
    let error = error_of(&project);
    assert!(error.contains("newer weft") && error.contains("999"), "{error}");
    assert_eq!(bytes_of(&db), before);
}

#[test]
fn a_history_from_an_older_weft_is_not_migrated_by_reading_it() {
    let project = project_with_history("untrusted-older", with_version(1));
    let db = project.path.join(".weft/weft.db");
    let before = bytes_of(&db);
    let error = error_of(&project);
    assert!(error.contains("older weft") && error.contains("weft run"), "{error}");
    assert_eq!(bytes_of(&db), before, "reading migrated the history");
    let version: i64 =
        rusqlite::Connection::open(&db).unwrap().query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
    assert_eq!(version, 1);
}

/// The approvals' table is read like the others: a view in its place is refused too.
#[test]
fn a_history_with_a_view_in_place_of_the_decisions_is_refused() {
    let project = TempProject::new("untrusted-decisions-view");
    project.write("cloned.plan.yaml", PLAN);
    real_history(&project);
    let db = project.path.join(".weft/weft.db");
    let connection = rusqlite::Connection::open(&db).unwrap();
    connection
        .execute_batch(
            "ALTER TABLE decisions RENAME TO real_decisions; CREATE VIEW decisions AS SELECT * FROM real_decisions;",
        )
        .unwrap();
    drop(connection);
    let error = error_of(&project);
    assert!(error.contains("`decisions` is not a table"), "{error}");
}

#[test]
fn a_history_with_a_view_in_place_of_a_table_is_refused() {
    let project = TempProject::new("untrusted-view");
    project.write("cloned.plan.yaml", PLAN);
    real_history(&project);
    let db = project.path.join(".weft/weft.db");
    let connection = rusqlite::Connection::open(&db).unwrap();
    connection
        .execute_batch("ALTER TABLE steps RENAME TO real_steps; CREATE VIEW steps AS SELECT * FROM real_steps;")
        .unwrap();
    drop(connection);
    let error = error_of(&project);
    assert!(error.contains("`steps` is not a table"), "{error}");
}

#[test]
fn a_damaged_history_is_refused() {
    let project = TempProject::new("untrusted-damaged");
    project.write("cloned.plan.yaml", PLAN);
    real_history(&project);
    let db = project.path.join(".weft/weft.db");
    let mut bytes = bytes_of(&db);
    let page: usize = 4096;
    assert!(bytes.len() >= 3 * page, "{} bytes", bytes.len());
    // The header stays; the pages of the tables after the schema page are overwritten.
    for (index, byte) in bytes[page..].iter_mut().enumerate() {
        *byte = (index * 7 + 13) as u8;
    }
    std::fs::write(&db, &bytes).unwrap();
    let error = error_of(&project);
    assert!(error.contains("malformed"), "{error}");
    assert_eq!(bytes_of(&db), bytes);
}

#[test]
fn a_real_history_is_read_with_the_defenses_on() {
    let project = TempProject::new("untrusted-real");
    project.write("cloned.plan.yaml", PLAN);
    real_history(&project);
    let store = Store::open_existing(&project.path).unwrap().expect("the history");
    assert_eq!(store.runs(None, 10).unwrap().len(), 1);
    let connection = &store.connection;
    assert!(connection.db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE).unwrap());
    assert!(!connection.db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA).unwrap());
    assert!(!connection.db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER).unwrap());
    assert!(!connection.db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW).unwrap());
    assert!(connection.is_readonly(rusqlite::MAIN_DB).unwrap());
}

#[test]
fn the_cli_says_what_is_wrong_and_exits_2() {
    for (name, make) in [
        ("untrusted-cli-garbage", Box::new(garbage) as Box<dyn FnOnce(&Path)>),
        ("untrusted-cli-newer", Box::new(with_version(999))),
    ] {
        let project = project_with_history(name, make);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(["status"])
            .current_dir(&project.path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("run history"), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn the_language_server_shows_no_history_says_why_once_and_changes_nothing() {
    for (name, make, why) in [
        ("untrusted-lsp-garbage", Box::new(garbage) as Box<dyn FnOnce(&Path)>, "malformed"),
        ("untrusted-lsp-older", Box::new(with_version(1)), "older weft"),
    ] {
        let project = project_with_history(name, make);
        let db = project.path.join(".weft/weft.db");
        let before = bytes_of(&db);
        let path = project.path.join("cloned.plan.yaml");
        let mut client = LspClient::start(&project.path);
        client.registration();
        client.open(&path, PLAN);
        client.diagnostics(&path);
        for _ in 0..3 {
            let lenses = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri(&path) } }));
            let titles: Vec<&str> =
                lenses.as_array().unwrap().iter().map(|lens| lens["command"]["title"].as_str().unwrap()).collect();
            assert_eq!(titles, ["▶ Run plan", "▶ Run step"], "{name}: the lenses of a file without history");
            let hints = client.request(
                "textDocument/inlayHint",
                json!({ "textDocument": { "uri": uri(&path) }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 9, "character": 0 } } }),
            );
            assert!(hints.is_array(), "{name}: {hints}");
        }
        let message = client.notification("window/showMessage");
        assert_eq!(message["type"], 2, "{name}: a warning: {message}");
        let text = message["message"].as_str().unwrap();
        assert!(text.contains(why) && text.contains(&project.path.display().to_string()), "{name}: {text}");
        let runs = client.request("weft/runs", json!({ "uri": uri(&path) }));
        assert_eq!(runs, json!({ "runs": [] }), "{name}");
        // `shutdown` fails if a second message about the history was sent.
        client.shutdown();
        assert_eq!(bytes_of(&db), before, "{name}: the server changed the history");
    }
}

#[test]
fn a_status_this_weft_never_writes_is_an_error_naming_it_never_a_panic() {
    let project = TempProject::new("untrusted-unknown-status");
    project.write("cloned.plan.yaml", PLAN);
    real_history(&project);
    let connection = rusqlite::Connection::open(project.path.join(".weft/weft.db")).unwrap();
    connection.execute_batch("UPDATE runs SET status = 'exploded'; UPDATE steps SET status = 'melted';").unwrap();
    drop(connection);

    let store = Store::open_existing(&project.path).unwrap().expect("the history");
    let error = store.runs(None, 10).unwrap_err().to_string();
    assert!(error.contains("unknown run status `exploded`"), "{error}");
    let error = store.steps(1).unwrap_err().to_string();
    assert!(error.contains("unknown step status `melted`"), "{error}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["status", "1"])
        .current_dir(&project.path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown run status `exploded`"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
