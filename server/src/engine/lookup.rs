//! Finding a step's program on PATH as exec's search does (the first executable file of that name),
//! remembered for the rest of the run and forgotten as soon as a directory of a searched PATH
//! changes (inotify). A search costs one `stat` per directory before the program's (nine for
//! `true` here); a remembered answer costs one read of the inotify descriptor.
//!
//! Invariant: an answer is remembered only while every directory of its PATH is watched, either
//! itself or, when it does not exist yet, its nearest existing ancestor; any event on a watch
//! forgets every answer. A PATH with a relative or empty entry (relative to the step's folder) is
//! searched every time.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{ErrorKind, Read as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

/// What changes an answer: an entry created, deleted, renamed or its mode changed, or the
/// directory itself removed or renamed.
const CHANGES: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

pub struct Lookup {
    /// Readable when a watched directory changed; `None` where inotify is not available, and
    /// then nothing is remembered.
    inotify: Option<File>,
    /// PATH directories watched (themselves or through an ancestor) since the last change.
    watched: HashSet<PathBuf>,
    /// Answers by PATH, then by program.
    found: HashMap<OsString, HashMap<String, PathBuf>>,
}

impl Lookup {
    pub fn new() -> Lookup {
        // SAFETY: inotify_init1 takes flags and returns a new descriptor or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        // SAFETY: the descriptor was just created and is owned by nothing else.
        let inotify = (fd >= 0).then(|| unsafe { File::from_raw_fd(fd) });
        Lookup { inotify, watched: HashSet::new(), found: HashMap::new() }
    }

    /// Where `program` (a name without `/`) is on `path`, entries relative to `cwd`. The flag says
    /// whether the answer was remembered (and so may be stale if the file changed in a way no
    /// directory event shows, such as a symbolic link's target removed).
    pub fn find(&mut self, program: &str, path: &OsStr, cwd: &Path) -> std::io::Result<(PathBuf, bool)> {
        let cacheable = self.inotify.is_some() && std::env::split_paths(path).all(|dir| dir.is_absolute());
        if !cacheable {
            return find_program(program, path, cwd).map(|found| (found, false));
        }
        if self.changed() {
            self.forget();
        }
        if let Some(found) = self.found.get(path).and_then(|programs| programs.get(program)) {
            return Ok((found.clone(), true));
        }
        // Watched before the search, so that a change during the search is seen next time.
        let mut all_watched = true;
        for dir in std::env::split_paths(path) {
            all_watched &= self.watch(&dir);
        }
        let found = find_program(program, path, cwd)?;
        if all_watched {
            self.found.entry(path.to_owned()).or_default().insert(program.to_owned(), found.clone());
        }
        Ok((found, false))
    }

    /// Forgets every answer (and which directories are watched, so that a directory created
    /// since gets a watch of its own).
    pub fn forget(&mut self) {
        self.found.clear();
        self.watched.clear();
    }

    /// Whether a watched directory changed since the last call (the events are consumed).
    fn changed(&mut self) -> bool {
        let Some(inotify) = self.inotify.as_mut() else { return false };
        let mut buffer = [0u8; 4096];
        let mut changed = false;
        loop {
            match inotify.read(&mut buffer) {
                Ok(n) if n > 0 => changed = true,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                // Empty (EAGAIN), or broken: either way nothing more to read now.
                _ => return changed,
            }
        }
    }

    /// Watches `dir`, or where it does not exist, its nearest existing ancestor (which sees it
    /// created). False when neither can be watched.
    fn watch(&mut self, dir: &Path) -> bool {
        if self.watched.contains(dir) {
            return true;
        }
        let Some(inotify) = &self.inotify else { return false };
        for candidate in dir.ancestors() {
            let Ok(name) = std::ffi::CString::new(candidate.as_os_str().as_bytes()) else { return false };
            // SAFETY: adds a watch on a NUL-terminated path to our own inotify descriptor.
            let result = unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), name.as_ptr(), CHANGES) };
            if result >= 0 {
                self.watched.insert(dir.to_path_buf());
                return true;
            }
            let error = std::io::Error::last_os_error();
            if !matches!(error.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) {
                return false;
            }
        }
        false
    }
}

/// Where `program` is on `path` (entries relative to `cwd`, an empty one meaning `cwd`): the
/// first executable file of that name, as exec would find it.
pub fn find_program(program: &str, path: &OsStr, cwd: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(path)
        .map(|dir| cwd.join(dir).join(program))
        .find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| std::io::Error::from(ErrorKind::NotFound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    /// A fresh folder under the system's temp folder, removed when dropped.
    struct Folder(PathBuf);

    impl Folder {
        fn new(name: &str) -> Folder {
            let path = std::env::temp_dir().join(format!("weft-lookup-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Folder(path)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn executable(path: &Path) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_remembered_program_is_forgotten_when_a_path_directory_changes() {
        let root = Folder::new("change");
        let (first, second) = (root.path().join("first"), root.path().join("second"));
        std::fs::create_dir(&first).unwrap();
        std::fs::create_dir(&second).unwrap();
        executable(&second.join("tool"));
        let path = std::env::join_paths([&first, &second]).unwrap();
        let mut lookup = Lookup::new();
        assert!(lookup.inotify.is_some(), "inotify is available here");

        assert_eq!(lookup.find("tool", &path, root.path()).unwrap(), (second.join("tool"), false));
        assert_eq!(lookup.find("tool", &path, root.path()).unwrap(), (second.join("tool"), true));
        // A program of the same name appears earlier on PATH: found there at once.
        executable(&first.join("tool"));
        assert_eq!(lookup.find("tool", &path, root.path()).unwrap(), (first.join("tool"), false));
        // It stops being executable: passed over again.
        std::fs::set_permissions(first.join("tool"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(lookup.find("tool", &path, root.path()).unwrap(), (second.join("tool"), false));
        // Removed everywhere: not found, and nothing remembered.
        std::fs::remove_file(second.join("tool")).unwrap();
        assert_eq!(lookup.find("tool", &path, root.path()).unwrap_err().kind(), ErrorKind::NotFound);
    }

    #[test]
    fn a_path_directory_created_during_the_run_is_searched() {
        let root = Folder::new("created");
        let (later, bin) = (root.path().join("later/bin"), root.path().join("bin"));
        std::fs::create_dir(&bin).unwrap();
        executable(&bin.join("tool"));
        let path = std::env::join_paths([&later, &bin]).unwrap();
        let mut lookup = Lookup::new();
        assert_eq!(lookup.find("tool", &path, root.path()).unwrap(), (bin.join("tool"), false));
        assert_eq!(lookup.find("tool", &path, root.path()).unwrap(), (bin.join("tool"), true));
        // The missing directory is made (its parent first), then the program put in it.
        std::fs::create_dir_all(&later).unwrap();
        assert_eq!(lookup.find("tool", &path, root.path()).unwrap(), (bin.join("tool"), false));
        executable(&later.join("tool"));
        assert_eq!(lookup.find("tool", &path, root.path()).unwrap(), (later.join("tool"), false));
    }

    #[test]
    fn a_relative_path_entry_is_searched_from_the_folder_every_time() {
        let root = Folder::new("relative");
        std::fs::create_dir(root.path().join("bin")).unwrap();
        executable(&root.path().join("bin/tool"));
        let mut lookup = Lookup::new();
        let path = OsStr::new("bin:/usr/bin");
        assert_eq!(lookup.find("tool", path, root.path()).unwrap(), (root.path().join("bin/tool"), false));
        assert_eq!(lookup.find("tool", path, root.path()).unwrap(), (root.path().join("bin/tool"), false));
    }
}
