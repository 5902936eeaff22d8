//! The same job ID twice in one namespace and output directory: which Service keeps it.

use super::ServiceOutcome;
use crate::findings::Finding;
use std::collections::HashMap;
use std::path::PathBuf;

/// Where a job ID (namespace, job, output directory) was first produced.
pub(super) type Seen = HashMap<(String, String, PathBuf), usize>;

/// The same job ID twice in one namespace and output directory. Within one file the later
/// document wins, as with `kubectl apply -f` (it updates the Service); across files the first
/// file wins. The other is reported and not written. Marks `services[from..]` against
/// everything seen so far; a file's documents are always in one step, so a later step can
/// only lose, never take a job from a Service already emitted.
pub(super) fn mark_duplicates(services: &mut [ServiceOutcome], from: usize, seen: &mut Seen) {
    for i in from..services.len() {
        let s = &services[i];
        if !s.ok || s.converted.job_id.is_empty() {
            continue;
        }
        let key = (
            s.converted.namespace.clone(),
            s.converted.job_id.clone(),
            s.relative_dir.clone(),
        );
        let Some(&first) = seen.get(&key) else {
            seen.insert(key, i);
            continue;
        };
        let same_file = services[first].source == services[i].source;
        let (loser, winner) = if same_file { (first, i) } else { (i, first) };
        let message = if same_file {
            format!(
                "job {:?} is defined again at line {} of the same file, which replaces this one (as kubectl apply would)",
                services[i].converted.job_id, services[i].location.line
            )
        } else {
            format!(
                "job {:?} is already produced by {}; this one is not written",
                services[i].converted.job_id, services[first].source
            )
        };
        let location = services[loser].location.clone();
        let lost = &mut services[loser];
        lost.converted
            .findings
            .push(Finding::new("K2N049", location, "metadata.name", message));
        lost.converted.job = None;
        lost.rendered = None;
        lost.ok = false;
        seen.insert(key, winner);
    }
}
