//! The one way this tool writes a file: a temporary file in the same directory, then a rename
//! over the target, so a reader (or an interrupted run) never sees half a file and a failed
//! write leaves nothing behind. Job files, reports, exported manifests and verify reports all
//! come through here; a change to how files are written (e.g. refusing symlinks) belongs here.

use std::io::Write;
use std::path::Path;

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

/// Writes `contents` to `path` atomically, creating the parent directories.
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
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents)?;
        if durability == Durability::Synced {
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: a half-written temporary file must not be left behind.
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
}
