//! Inputs named on the command line that give nothing: a file, stdin or directory with no
//! Knative Service in it (K2N111). `echo '{}' | knative2nomad convert -` converting "0
//! service(s)" with exit 0 hides a wrong path or a wrong file.
//!
//! What it is not: a check of files found while walking a directory one by one; a tree of
//! manifests holds many other kinds, and only the directory as a whole is judged.

use super::Batch;
use crate::findings::{Finding, Location};
use crate::knative::load::{self, DocumentKind, Input};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// One path as given on the command line, and the names of the inputs it expanded to.
#[derive(Debug)]
pub(super) struct Root {
    pub path: PathBuf,
    pub inputs: Vec<Arc<str>>,
}

/// At most this many kinds are listed in the message.
const KINDS_SHOWN: usize = 4;

/// A K2N111 warning for every root that produced no Service. A root is left alone when one of
/// its inputs already has a finding (a syntax error, an unconverted Knative kind says more) or
/// holds a ConfigMap or Secret, which Services of other inputs may use.
pub(super) fn report(roots: &[Root], batch: &Batch) -> Vec<Finding> {
    let with_services: HashSet<&str> = batch.services.iter().map(|s| &*s.source).collect();
    let with_findings: HashSet<&str> = batch
        .other_findings
        .iter()
        .map(|f| &*f.location.file)
        .collect();
    let mut out = Vec::new();
    for root in roots {
        let names = || root.inputs.iter().map(|n| &**n);
        if names().any(|n| with_services.contains(n) || with_findings.contains(n)) {
            continue;
        }
        let mut contents = Contents::default();
        for name in names() {
            if let Some(text) = batch.sources.get(name) {
                contents.add(name, text);
            }
        }
        if contents.resources {
            continue;
        }
        out.push(finding(root, &contents));
    }
    out
}

/// What the inputs of a root hold.
#[derive(Debug, Default)]
struct Contents {
    /// A ConfigMap or Secret.
    resources: bool,
    /// `apiVersion kind "name"` of the other objects, in order.
    kinds: Vec<String>,
    /// Documents that are mappings without apiVersion or kind.
    untyped: usize,
    /// Where the first document starts, when there is one input.
    first: Option<Location>,
}

impl Contents {
    fn add(&mut self, name: &str, text: &str) {
        let input = Input {
            name: Arc::from(name),
            relative_dir: PathBuf::new(),
            text: text.to_string(),
        };
        for doc in load::split_documents(&input).0 {
            if self.first.is_none() {
                self.first = Some(doc.location(""));
            }
            match load::classify(&doc) {
                DocumentKind::ConfigMap | DocumentKind::Secret => self.resources = true,
                _ if doc.api_version().is_empty() || doc.kind().is_empty() => self.untyped += 1,
                _ => self.kinds.push(match doc.name() {
                    Some(n) => format!("{} {} {n:?}", doc.api_version(), doc.kind()),
                    None => format!("{} {}", doc.api_version(), doc.kind()),
                }),
            }
        }
    }

    /// `v1 Service "web", a document without apiVersion and kind`, or that there is none.
    fn describe(&self) -> String {
        let mut parts: Vec<String> = self.kinds.iter().take(KINDS_SHOWN).cloned().collect();
        if self.kinds.len() > KINDS_SHOWN {
            parts.push(format!("{} more object(s)", self.kinds.len() - KINDS_SHOWN));
        }
        match self.untyped {
            0 => {}
            1 => parts.push("a document without apiVersion and kind".to_string()),
            n => parts.push(format!("{n} documents without apiVersion and kind")),
        }
        if parts.is_empty() {
            "no document (it is empty or only comments)".to_string()
        } else {
            parts.join(", ")
        }
    }
}

fn finding(root: &Root, contents: &Contents) -> Finding {
    let what = contents.describe();
    let (location, message) = match root.inputs.as_slice() {
        // A file or stdin: the input itself.
        [only] if root.path.as_os_str() == "-" || !root.path.is_dir() => (
            contents
                .first
                .clone()
                .unwrap_or_else(|| whole(only.clone())),
            format!(
                "no Knative Service (serving.knative.dev/v1 Service) in this input; it holds {what}"
            ),
        ),
        [] => (
            whole(Arc::from(root.path.display().to_string())),
            "no Knative Service in this directory: it has no *.yaml, *.yml or *.json file"
                .to_string(),
        ),
        inputs => (
            whole(Arc::from(root.path.display().to_string())),
            format!(
                "no Knative Service in this directory: {} file(s) read, holding {what}",
                inputs.len()
            ),
        ),
    };
    Finding::new("K2N111", location, "", message)
}

/// The file as a whole (no line).
fn whole(file: Arc<str>) -> Location {
    Location {
        file,
        line: 0,
        column: 0,
    }
}
