//! The one way this tool writes a file: a temporary file in the same directory, then a rename
//! over the target, so a reader (or an interrupted run) never sees half a file and a failed
//! write leaves nothing behind. Job files, reports, exported manifests and verify reports all
//! come through here.
//!
//! Writes cannot be redirected (docs/security.md, "Paths"): the temporary file has an
//! unpredictable name and is created with O_CREAT|O_EXCL|O_NOFOLLOW, so a link planted at its
//! name is never followed; the rename replaces whatever is at the target's name and never
//! writes through a link there. Under an output directory ([`prepare_under`]) a symbolic link
//! anywhere below the directory, file or directory, is refused, whatever `--force` says.
//! Temporary files carry this process's id, so a later run can tell its predecessors' leftovers
//! ([`remove_stale_temp_files`]) from a concurrent run's.

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// How far a write goes before [`write_atomic`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The file's content is synced to disk before the rename: once this returns, a power loss
    /// leaves the new file. For files written one at a time (reports, exports).
    Synced,
    /// Renamed without syncing: readers see the old file or the new one, but after a power loss
    /// a new file may be empty. For the thousands of job files of a batch, which the next run
    /// regenerates: syncing each would about double the batch's time (ARCHITECTURE.md,
    /// "Writing files").
    Renamed,
}

/// Why a path under an output directory is not written.
#[derive(Debug, thiserror::Error)]
pub enum UnsafePath {
    #[error(
        "{0} is a symbolic link; nothing is written through a link inside the output directory (not even with --force)"
    )]
    Symlink(PathBuf),
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("{0} is not a regular file; not replaced")]
    NotAFile(PathBuf),
    #[error("{0} leaves the output directory")]
    Escapes(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The suffix of every temporary file this tool creates: `.NAME.PID-RANDOM.k2n-tmp`.
pub const TEMP_SUFFIX: &str = ".k2n-tmp";

/// Writes `contents` to `path` atomically, creating the parent directories. A path given by
/// the user is theirs: its directories are followed as they are; the target's name is
/// replaced (a link there is replaced, not written through).
pub fn write_atomic(path: &Path, contents: &[u8], durability: Durability) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (tmp, mut file) = create_temp(dir, &file_name)?;
    let result = (|| {
        file.write_all(contents)?;
        if durability == Durability::Synced {
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: a half-written temporary file must not be left behind.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates a new temporary file beside `file_name` in `dir`: a name no one can predict, and
/// never through a link or over an existing file.
fn create_temp(dir: &Path, file_name: &str) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut last_error = None;
    for _ in 0..16 {
        let tmp = dir.join(format!(
            ".{file_name}.{}-{:016x}{TEMP_SUFFIX}",
            std::process::id(),
            fastrand::u64(..)
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no temporary file name was free")))
}

/// Checks the way from `root` (the output directory, the user's choice, followed as given) to
/// `root/relative`: every directory below `root` must be a real directory (missing ones are
/// created), and the target must not be a symbolic link or anything but a regular file.
/// `checked` remembers directories already checked in this run. Returns the target's path.
pub fn prepare_under(
    root: &Path,
    relative: &Path,
    checked: &mut HashSet<PathBuf>,
) -> Result<PathBuf, UnsafePath> {
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(UnsafePath::Escapes(root.join(relative)));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| UnsafePath::Io { path, source }
    };
    if !checked.contains(root) {
        std::fs::create_dir_all(root).map_err(io(root))?;
        checked.insert(root.to_path_buf());
    }
    let mut dir = root.to_path_buf();
    if let Some(parent) = relative.parent() {
        for component in parent.components() {
            dir.push(component);
            if checked.contains(&dir) {
                continue;
            }
            match std::fs::symlink_metadata(&dir) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(UnsafePath::Symlink(dir));
                }
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err(UnsafePath::NotADirectory(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // create_dir (not _all) fails if anything appeared here meanwhile.
                    std::fs::create_dir(&dir).map_err(io(&dir))?;
                }
                Err(e) => return Err(io(&dir)(e)),
            }
            checked.insert(dir.clone());
        }
    }
    let target = root.join(relative);
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.file_type().is_symlink() => Err(UnsafePath::Symlink(target)),
        Ok(meta) if !meta.is_file() => Err(UnsafePath::NotAFile(target)),
        Ok(_) => Ok(target),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(target),
        Err(e) => Err(io(&target)(e)),
    }
}

/// Whether `name` is a temporary file of this tool, and the id of the process that made it.
pub fn temp_file_owner(name: &str) -> Option<u32> {
    let stem = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let (_, tail) = stem.rsplit_once('.')?;
    let (pid, random) = tail.split_once('-')?;
    (random.len() == 16 && random.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Whether the process that made a temporary file is gone (so the file is a leftover of an
/// interrupted run, not a concurrent run's work in progress).
fn owner_is_gone(pid: u32) -> bool {
    let proc = Path::new("/proc");
    // Without /proc nothing can be told: leave the file.
    proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

/// Removes this tool's temporary files in `dir` whose process is gone (an interrupted or
/// killed run); returns what it removed.
pub fn remove_stale_temp_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = temp_file_owner(&name.to_string_lossy()) else {
            continue;
        };
        let is_file = entry
            .file_type()
            .is_ok_and(|t| t.is_file() || t.is_symlink());
        if is_file && owner_is_gone(pid) && std::fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/job.nomad.hcl");
        write_atomic(&path, b"one", Durability::Synced).unwrap();
        write_atomic(&path, b"two", Durability::Renamed).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["job.nomad.hcl"]);
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a directory: the rename fails after the temporary file was written.
        let path = dir.path().join("taken");
        std::fs::create_dir(path.join("inside").parent().unwrap()).unwrap();
        std::fs::write(path.join("inside"), "x").unwrap();
        assert!(write_atomic(&path, b"job", Durability::Renamed).is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["taken"]);
    }

    #[test]
    fn a_link_at_the_target_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let target = dir.path().join("report.md");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write_atomic(&target, b"report", Durability::Synced).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(std::fs::symlink_metadata(&target).unwrap().is_file());
    }

    #[test]
    fn links_under_the_output_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, out.join("default")).unwrap();
        std::os::unix::fs::symlink(outside.join("f"), out.join("f.hcl")).unwrap();
        let mut checked = HashSet::new();
        let refused = |r: Result<PathBuf, UnsafePath>| matches!(r, Err(UnsafePath::Symlink(_)));
        assert!(refused(prepare_under(
            &out,
            Path::new("default/a.hcl"),
            &mut checked
        )));
        assert!(refused(prepare_under(
            &out,
            Path::new("f.hcl"),
            &mut checked
        )));
        assert!(matches!(
            prepare_under(&out, Path::new("../x.hcl"), &mut checked),
            Err(UnsafePath::Escapes(_))
        ));
        let made = prepare_under(&out, Path::new("new/deep/a.hcl"), &mut checked).unwrap();
        assert!(made.parent().unwrap().is_dir());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn stale_temporary_files_of_gone_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22 on Linux: this process cannot exist.
        let stale = dir
            .path()
            .join(format!(".a.hcl.99999999-{:016x}{TEMP_SUFFIX}", 7));
        let live = dir.path().join(format!(
            ".b.hcl.{}-{:016x}{TEMP_SUFFIX}",
            std::process::id(),
            7
        ));
        let other = dir.path().join(".c.hcl.99999999.tmp");
        for p in [&stale, &live, &other] {
            std::fs::write(p, "x").unwrap();
        }
        assert_eq!(
            temp_file_owner(".a.hcl.12-00000000000000ff.k2n-tmp"),
            Some(12)
        );
        assert_eq!(temp_file_owner("a.hcl"), None);
        assert_eq!(
            remove_stale_temp_files(dir.path()),
            std::slice::from_ref(&stale)
        );
        assert!(live.exists() && other.exists() && !stale.exists());
    }
}
