//! Findings as people read them: each with its source line, Secret values hidden. The source
//! of a file is prepared once (line index, Secret spans from `knative::redact`) and kept for
//! the file's other findings, so rendering costs one pass per file, not one per finding.
//!
//! What it is not: where the text goes (main and deploy print it), nor the machine formats.

use super::Batch;
use crate::findings::{Finding, Severity, SnippetSource, render_human};
use crate::knative::redact;
use std::collections::HashMap;
use std::sync::Arc;

/// Renders findings of one batch for people.
pub struct HumanDiagnostics<'b> {
    batch: &'b Batch,
    prepared: HashMap<Arc<str>, Option<SnippetSource<'b>>>,
}

impl<'b> HumanDiagnostics<'b> {
    pub fn new(batch: &'b Batch) -> Self {
        HumanDiagnostics {
            batch,
            prepared: HashMap::new(),
        }
    }

    /// The finding as `findings::render_human` draws it, with its source line when the batch
    /// read that file.
    pub fn render(&mut self, finding: &Finding) -> String {
        // Notes show no source line: spare the preparation.
        if finding.severity == Severity::Info {
            return render_human(finding, None);
        }
        let batch = self.batch;
        let source = self
            .prepared
            .entry(finding.location.file.clone())
            .or_insert_with(|| {
                batch.sources.get(&finding.location.file).map(|text| {
                    let text: &'b str = text;
                    SnippetSource::new(text, redact::secret_spans(text))
                })
            });
        render_human(finding, source.as_ref())
    }
}
