//! Finding and reading files on disk, for the command line and the language server.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::model::FileKind;

/// Files larger than this are refused rather than read: no workflow is anywhere near it.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Folders never entered when walking: tool state, dependencies and build output.
const SKIPPED_FOLDERS: [&str; 4] = ["node_modules", "target", "__pycache__", "venv"];

/// A file to read: `key` is absolute (for finding its project), `display` is as the user named it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FoundFile {
    pub display: PathBuf,
    pub key: PathBuf,
}

/// An absolute, lexically normalised path (no `.` or `..`), the key of a file in the workspace.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut normal = PathBuf::new();
    for component in joined.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// How to show an absolute path found by weft itself (a `weft.yaml` above a file): relative to
/// the current folder when it is below it.
pub fn display_for(key: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| key.strip_prefix(absolute(&cwd)).ok().map(Path::to_path_buf))
        .filter(|relative| !relative.as_os_str().is_empty())
        .unwrap_or_else(|| key.to_path_buf())
}

/// Every file below `folder` that may be one of weft's kinds, sorted, without hidden folders and
/// without what a `.weftignore` file excludes. `Err` lists folders that could not be read.
///
/// A `.weftignore` holds one path per line, relative to its own folder (`broken/`, `drafts/old.plan.yaml`);
/// `#` starts a comment. It applies only while walking: a path given by name is always checked,
/// as ruff and ESLint do with their excludes.
pub fn walk(folder: &Path) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut ignored: Vec<PathBuf> = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) => {
                errors.push((dir, error.to_string()));
                continue;
            }
        };
        if let Ok(text) = std::fs::read_to_string(dir.join(".weftignore")) {
            ignored.extend(
                text.lines()
                    .map(|line| line.split('#').next().unwrap_or_default().trim().trim_end_matches('/'))
                    .filter(|line| !line.is_empty())
                    .map(|line| dir.join(line)),
            );
        }
        let mut children: Vec<_> = entries.filter_map(Result::ok).collect();
        children.sort_by_key(|entry| entry.file_name());
        for entry in children.into_iter().rev() {
            let path = entry.path();
            if ignored.contains(&path) {
                continue;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                if !name.starts_with('.') && !SKIPPED_FOLDERS.contains(&name.as_ref()) {
                    pending.push(path);
                }
            } else if (file_type.is_file() || file_type.is_symlink() && path.is_file())
                && FileKind::is_candidate_name(&path)
            {
                files.push(path);
            }
        }
    }
    files.sort();
    (files, errors)
}

/// Reads a file as text, with a clear reason when it cannot be used.
pub fn read_text(path: &Path) -> Result<String, String> {
    let metadata = std::fs::metadata(path).map_err(|error| describe_io(&error))?;
    if metadata.is_dir() {
        return Err("is a folder".into());
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(format!(
            "is {} MB, larger than the {} MB weft reads",
            metadata.len() / 1_048_576,
            MAX_FILE_BYTES / 1_048_576
        ));
    }
    let bytes = std::fs::read(path).map_err(|error| describe_io(&error))?;
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(format!("is a binary file (NUL byte at offset {at}), not YAML or JSON"));
    }
    String::from_utf8(bytes).map_err(|error| {
        format!(
            "is not UTF-8 text (invalid byte 0x{:02x} at offset {})",
            error.as_bytes()[error.utf8_error().valid_up_to()],
            error.utf8_error().valid_up_to()
        )
    })
}

fn describe_io(error: &std::io::Error) -> String {
    match error.kind() {
        ErrorKind::NotFound => "no such file or folder".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        _ => error.to_string(),
    }
}
