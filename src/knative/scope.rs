//! Folders as scopes for ConfigMap/Secret resolution: which folder an input sits in, and which
//! folders enclose it. A Service sees definitions in its own file, its own folder and the folders
//! above it, never in sibling folders ([`super::resources`] decides among them).
//!
//! A folder is the parent of the input's name as given on the command line (or as cluster
//! import names it, `<namespace>/<name>.yaml`), made absolute against the working directory and
//! with `.` and `..` folded lexically, so `./prod/a.yaml`, `prod/a.yaml` and an absolute path
//! to it share a folder. Symlinks are not resolved: scope follows the paths the user named.
//! stdin (`<stdin>`) sits in the working directory.
//!
//! What it is not: a file-system walk; it never touches the disk.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Index of a folder in [`Folders`].
pub type FolderId = u32;

/// The folders that hold at least one definition, by their normalized path.
#[derive(Debug, Default, Clone)]
pub struct Folders {
    /// What relative input names are relative to: the working directory when the table was
    /// made (empty when it could not be read, so relative names stay comparable among
    /// themselves).
    base: PathBuf,
    ids: HashMap<PathBuf, FolderId>,
}

impl Folders {
    /// An empty table whose relative names are relative to the current working directory.
    pub fn for_current_dir() -> Folders {
        Folders {
            base: std::env::current_dir().unwrap_or_default(),
            ids: HashMap::new(),
        }
    }

    /// The folder of input `file`, added to the table if new.
    pub fn intern(&mut self, file: &str) -> FolderId {
        let folder = folder_of(&self.base, file);
        let next = self.ids.len() as FolderId;
        *self.ids.entry(folder).or_insert(next)
    }

    /// The folders of the table that enclose input `file` (its own folder included), nearest
    /// first, each with how many levels above `file`'s folder it is. One hash lookup per level
    /// of `file`'s path.
    pub fn enclosing(&self, file: &str) -> Vec<(FolderId, usize)> {
        if self.ids.is_empty() {
            return Vec::new();
        }
        let folder = folder_of(&self.base, file);
        folder
            .ancestors()
            .enumerate()
            .filter_map(|(up, path)| self.ids.get(path).map(|id| (*id, up)))
            .collect()
    }
}

/// The folder of input `file`: its parent, absolute against `base`, `.` and `..` folded.
pub fn folder_of(base: &Path, file: &str) -> PathBuf {
    let parent = Path::new(file).parent().unwrap_or(Path::new(""));
    let mut out = if parent.is_absolute() {
        PathBuf::new()
    } else {
        base.to_path_buf()
    };
    for component in parent.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_normalized_lexically() {
        let base = Path::new("/work/repo");
        assert_eq!(
            folder_of(base, "envs/prod/app.yaml"),
            Path::new("/work/repo/envs/prod")
        );
        assert_eq!(
            folder_of(base, "./envs/./prod/app.yaml"),
            Path::new("/work/repo/envs/prod")
        );
        assert_eq!(
            folder_of(base, "/work/repo/envs/prod/app.yaml"),
            Path::new("/work/repo/envs/prod")
        );
        assert_eq!(
            folder_of(base, "envs/staging/../prod/app.yaml"),
            Path::new("/work/repo/envs/prod")
        );
        assert_eq!(folder_of(base, "../other/a.yaml"), Path::new("/work/other"));
        assert_eq!(folder_of(base, "<stdin>"), Path::new("/work/repo"));
        assert_eq!(folder_of(base, "/../a.yaml"), Path::new("/"));
        // Without a working directory, leading `..` are kept rather than eaten.
        assert_eq!(folder_of(Path::new(""), "../../a.yaml"), Path::new("../.."));
        assert_eq!(folder_of(Path::new(""), "a/../../b.yaml"), Path::new(".."));
    }

    #[test]
    fn enclosing_folders_nearest_first_and_never_siblings() {
        let mut folders = Folders {
            base: PathBuf::from("/r"),
            ids: HashMap::new(),
        };
        let root = folders.intern("envs/common.yaml");
        let prod = folders.intern("envs/prod/cm.yaml");
        let staging = folders.intern("envs/staging/cm.yaml");
        assert_eq!(
            folders.enclosing("envs/prod/app.yaml"),
            [(prod, 0), (root, 1)]
        );
        assert_eq!(
            folders.enclosing("envs/staging/deep/app.yaml"),
            [(staging, 1), (root, 2)]
        );
        assert_eq!(folders.enclosing("other/app.yaml"), []);
    }
}
