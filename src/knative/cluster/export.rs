//! `--export-dir`: the manifests as files, `DIR/<namespace>/<name>.yaml` (the layout of
//! `kn service export`).

use super::error::ImportError;
use super::query::ImportedService;
use crate::output::{Durability, prepare_under, remove_stale_temp_files, write_atomic};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Writes `DIR/<namespace>/<name>.yaml` for each service (the layout of `kn service export`),
/// each atomically: a temporary file in the same directory, synced, then renamed over the
/// target. Nothing is written through a symbolic link below `DIR` (`output::prepare_under`),
/// and temporary files of interrupted earlier runs are removed. Returns the paths written, in
/// input order.
pub fn export(dir: &Path, services: &[ImportedService]) -> Result<Vec<PathBuf>, ImportError> {
    let mut written = Vec::with_capacity(services.len());
    let mut checked = HashSet::new();
    let mut cleaned = HashSet::new();
    for service in services {
        if !is_safe_path_segment(&service.namespace) || !is_safe_path_segment(&service.name) {
            return Err(ImportError::UnsafeExportName {
                namespace: service.namespace.clone(),
                name: service.name.clone(),
            });
        }
        let relative = Path::new(&service.namespace).join(format!("{}.yaml", service.name));
        let target =
            prepare_under(dir, &relative, &mut checked).map_err(|e| ImportError::Export {
                path: dir.join(&relative),
                source: std::io::Error::other(e.to_string()),
            })?;
        if let Some(parent) = target.parent()
            && cleaned.insert(parent.to_path_buf())
        {
            remove_stale_temp_files(parent);
        }
        write_atomic(
            &target,
            service.manifest_yaml.as_bytes(),
            Durability::Synced,
        )
        .map_err(|source| ImportError::Export {
            path: target.clone(),
            source,
        })?;
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
