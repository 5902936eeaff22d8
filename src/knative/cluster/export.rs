//! `--export-dir`: the manifests as files, `DIR/<namespace>/<name>.yaml` (the layout of
//! `kn service export`).

use super::error::ImportError;
use super::query::ImportedService;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `DIR/<namespace>/<name>.yaml` for each service (the layout of `kn service export`),
/// each atomically: a temporary file in the same directory, synced, then renamed over the
/// target. Returns the paths written, in input order.
pub fn export(dir: &Path, services: &[ImportedService]) -> Result<Vec<PathBuf>, ImportError> {
    let mut written = Vec::with_capacity(services.len());
    for service in services {
        if !is_safe_path_segment(&service.namespace) || !is_safe_path_segment(&service.name) {
            return Err(ImportError::UnsafeExportName {
                namespace: service.namespace.clone(),
                name: service.name.clone(),
            });
        }
        let namespace_dir = dir.join(&service.namespace);
        std::fs::create_dir_all(&namespace_dir).map_err(|source| ImportError::Export {
            path: namespace_dir.clone(),
            source,
        })?;
        let target = namespace_dir.join(format!("{}.yaml", service.name));
        write_atomically(&target, service.manifest_yaml.as_bytes())?;
        written.push(target);
    }
    Ok(written)
}

/// Kubernetes names are DNS labels/subdomains; anything else must not become a path.
fn is_safe_path_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

fn write_atomically(target: &Path, contents: &[u8]) -> Result<(), ImportError> {
    let file_name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = target.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, target)
    })();
    result.map_err(|source| {
        // Best effort: a half-written temporary file must not be left behind.
        let _ignored = std::fs::remove_file(&temporary);
        ImportError::Export {
            path: target.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_export_names_are_refused() {
        assert!(is_safe_path_segment("hello-world"));
        assert!(!is_safe_path_segment(".."));
        assert!(!is_safe_path_segment("a/b"));
        assert!(!is_safe_path_segment(""));
    }
}
