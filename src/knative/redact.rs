//! Where the Secret values of an input are, as byte spans, so that diagnostics can show the
//! source around a finding without showing a Secret's value (docs/security.md, "Secrets").
//!
//! A span covers the value of every entry of `data` and `stringData` of a mapping that is, or
//! may be, a Secret: its `kind` is `Secret` (in any case), is missing, is not a plain string,
//! or is not known yet because the document stops at a syntax error. The keys stay visible.
//! Spans are bytes, not lines: one line of compact JSON or YAML flow style may hold a Service
//! and a Secret side by side. A document that does not parse is hidden from the last place
//! libyaml read to its end while it may still be a Secret; one nested too deeply to be parsed
//! safely is hidden whole.
//!
//! What it is not: the snippet renderer (`findings::render_human` draws the placeholder), nor
//! a guard of anything but diagnostics; Secret values are never kept after loading
//! (`resources.rs`).

use super::load::{DocumentChunk, document_chunks};
use super::nesting;
use super::yaml_events::{self, EventKind};
use std::collections::HashMap;
use std::ops::Range;

/// What a diagnostic shows instead of the text of a Secret value.
pub const PLACEHOLDER: &str = crate::findings::REDACTED_SECRET;

/// The byte spans of `text` that hold (or may hold) Secret values, sorted and disjoint.
pub fn secret_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    for chunk in document_chunks(text) {
        if chunk.text.trim().is_empty() {
            continue;
        }
        spans.extend(
            chunk_spans(&chunk)
                .into_iter()
                .map(|s| s.start + chunk.offset..s.end + chunk.offset),
        );
    }
    merge(spans)
}

/// Whether the byte `offset` of a text lies in one of `spans` (as [`secret_spans`] gives them).
pub fn is_redacted(spans: &[Range<usize>], offset: usize) -> bool {
    let i = spans.partition_point(|s| s.end <= offset);
    spans.get(i).is_some_and(|s| s.start <= offset)
}

/// Spans of one document, relative to its text.
fn chunk_spans(chunk: &DocumentChunk<'_>) -> Vec<Range<usize>> {
    let text = chunk.text;
    if nesting::too_deep(text).is_some() {
        return std::iter::once(0..text.len()).collect();
    }
    let parsed = yaml_events::parse(text);
    let mut walk = Walk::default();
    for event in &parsed.events {
        walk.event(event);
    }
    let mut spans = std::mem::take(&mut walk.spans);
    if !parsed.complete {
        // Open mappings are decided on what was read; the unread rest may be a Secret value
        // unless every open mapping is known to be something else.
        let tail_may_be_secret = walk.open_may_be_secret();
        for frame in walk.frames.drain(..).rev() {
            if frame.mapping && may_be_secret(&frame.kinds) {
                spans.extend(frame.pending);
            }
        }
        if tail_may_be_secret {
            let from = parsed.events.last().map_or(0, |e| e.span.end);
            spans.push(skip_value_indicator(text, from)..text.len());
        }
    }
    spans
}

/// `kind` values read on a mapping: `None` for a kind that is not a plain string.
fn may_be_secret(kinds: &[Option<String>]) -> bool {
    kinds.is_empty()
        || kinds
            .iter()
            .any(|k| k.as_ref().is_none_or(|k| k.eq_ignore_ascii_case("secret")))
}

/// After the last event read: skip blanks and a `: ` value indicator, so that a redacted
/// value shows as `KEY: <redacted…>`. Stops at anything else.
fn skip_value_indicator(text: &str, from: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = from.min(bytes.len());
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
        i += 1;
    }
    if i + 1 < bytes.len() && bytes[i] == b':' && matches!(bytes[i + 1], b' ' | b'\t') {
        i += 1;
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
    }
    i
}

/// An open mapping or sequence while walking the events.
#[derive(Default)]
struct Frame {
    mapping: bool,
    start: usize,
    anchor: Option<String>,
    /// A Kubernetes object: the document's root mapping, or an element of an object's `items`.
    object: bool,
    /// A sequence that is an object's `items`.
    items: bool,
    /// For a mapping: the next node is a key.
    expecting_key: bool,
    /// For a mapping: the current entry's key, when it is a scalar.
    key: Option<String>,
    /// `kind` values read on a mapping: `None` for one that is not a plain string.
    kinds: Vec<Option<String>>,
    /// For a mapping with `data`/`stringData`: the spans of their values, kept when the mapping
    /// turns out to be (or may be) a Secret.
    pending: Vec<Range<usize>>,
    /// This node is `data`/`stringData` of the mapping at this frame index: its entries' values
    /// are redacted.
    values_of: Option<usize>,
    /// This whole node is a redacted value, recorded on the mapping at `owner` when it ends.
    redacting: bool,
    owner: usize,
}

#[derive(Default)]
struct Walk {
    frames: Vec<Frame>,
    spans: Vec<Range<usize>>,
    /// Anchor → the span of the node that carries it, for aliases inside a redacted value.
    anchors: HashMap<String, Range<usize>>,
}

impl Walk {
    fn event(&mut self, event: &yaml_events::Event) {
        match &event.kind {
            EventKind::Boundary => self.frames.clear(),
            EventKind::End => {
                let Some(frame) = self.frames.pop() else {
                    return;
                };
                let span = frame.start..event.span.end;
                if frame.redacting {
                    self.record(frame.owner, span.clone());
                }
                if frame.mapping && may_be_secret(&frame.kinds) {
                    self.spans.extend(frame.pending);
                }
                if let Some(anchor) = frame.anchor {
                    self.anchors.insert(anchor, span.clone());
                }
                self.node_done(None);
            }
            EventKind::MappingStart | EventKind::SequenceStart => {
                let mapping = event.kind == EventKind::MappingStart;
                let parent = self.frames.last();
                let object = mapping && parent.is_none_or(|p| p.items && !p.mapping);
                let items = !mapping
                    && parent.is_some_and(|p| {
                        p.object && !p.expecting_key && p.key.as_deref() == Some("items")
                    });
                let mut frame = Frame {
                    mapping,
                    start: event.span.start,
                    anchor: event.anchor.clone(),
                    object,
                    items,
                    expecting_key: mapping,
                    ..Frame::default()
                };
                match self.value_role() {
                    Role::Key | Role::Plain | Role::Inside => {}
                    Role::DataOf(owner) if mapping => frame.values_of = Some(owner),
                    Role::DataOf(owner) | Role::EntryOf(owner) => {
                        frame.redacting = true;
                        frame.owner = owner;
                    }
                }
                self.frames.push(frame);
            }
            EventKind::Scalar(value) => {
                if let Role::DataOf(owner) | Role::EntryOf(owner) = self.value_role() {
                    self.record(owner, event.span.clone());
                }
                if let Some(anchor) = &event.anchor {
                    self.anchors.insert(anchor.clone(), event.span.clone());
                }
                self.node_done(Some(value));
            }
            EventKind::Alias(name) => {
                let role = self.value_role();
                let owner = match role {
                    Role::DataOf(owner) | Role::EntryOf(owner) => Some(owner),
                    Role::Inside => self.redacting_owner(),
                    Role::Key | Role::Plain => None,
                };
                if let Some(owner) = owner {
                    if !matches!(role, Role::Inside) {
                        self.record(owner, event.span.clone());
                    }
                    // The alias stands for text elsewhere: hide that text too.
                    if let Some(target) = self.anchors.get(name).cloned() {
                        self.record(owner, target);
                    }
                }
                self.node_done(None);
            }
        }
    }

    /// The role of the node that starts now, from its parent.
    fn value_role(&self) -> Role {
        if self.redacting_owner().is_some() {
            return Role::Inside;
        }
        let Some(parent) = self.frames.last() else {
            return Role::Plain;
        };
        if parent.mapping && parent.expecting_key {
            return Role::Key;
        }
        if let Some(owner) = parent.values_of {
            return Role::EntryOf(owner);
        }
        match parent.key.as_deref() {
            Some("data" | "stringData") if parent.mapping => Role::DataOf(self.frames.len() - 1),
            _ => Role::Plain,
        }
    }

    /// The mapping a redacted ancestor records its span on, when inside one.
    fn redacting_owner(&self) -> Option<usize> {
        self.frames.iter().find(|f| f.redacting).map(|f| f.owner)
    }

    /// Whether text not read yet may be a Secret value: the innermost open object is not known
    /// to be something else (or there is none yet), or a redacted value is open.
    fn open_may_be_secret(&self) -> bool {
        let owner_may_be_secret = |owner: usize| {
            self.frames
                .get(owner)
                .is_none_or(|m| may_be_secret(&m.kinds))
        };
        self.redacting_owner().is_some_and(owner_may_be_secret)
            || self
                .frames
                .iter()
                .rev()
                .find(|f| f.object)
                .is_none_or(|f| may_be_secret(&f.kinds))
            || self
                .frames
                .last()
                .and_then(|f| f.values_of)
                .is_some_and(owner_may_be_secret)
    }

    fn record(&mut self, owner: usize, span: Range<usize>) {
        if let Some(frame) = self.frames.get_mut(owner) {
            frame.pending.push(span);
        } else {
            self.spans.push(span);
        }
    }

    /// A node ended: it was its parent's key or value (`scalar`: its value, if a scalar).
    fn node_done(&mut self, scalar: Option<&String>) {
        let Some(parent) = self.frames.last_mut() else {
            return;
        };
        if !parent.mapping {
            return;
        }
        if parent.expecting_key {
            parent.key = scalar.cloned();
            parent.expecting_key = false;
        } else {
            if parent.key.as_deref() == Some("kind") {
                parent.kinds.push(scalar.cloned());
            }
            parent.expecting_key = true;
        }
    }
}

enum Role {
    Key,
    Plain,
    /// Inside a value already being redacted whole.
    Inside,
    /// The value of `data`/`stringData` of the mapping at this frame index.
    DataOf(usize),
    /// The value of one entry of `data`/`stringData` of the mapping at this frame index.
    EntryOf(usize),
}

/// Sorts spans and merges overlapping or touching ones.
fn merge(mut spans: Vec<Range<usize>>) -> Vec<Range<usize>> {
    spans.retain(|s| s.start < s.end);
    spans.sort_by_key(|s| s.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text left when every span is replaced by the placeholder.
    fn shown(text: &str) -> String {
        let mut out = String::new();
        let mut at = 0;
        for s in secret_spans(text) {
            out.push_str(&text[at..s.start]);
            out.push_str("<R>");
            at = s.end;
        }
        out.push_str(&text[at..]);
        out
    }

    #[test]
    fn block_secret_values_are_hidden_and_keys_kept() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  A: c2VjcmV0\nstringData:\n  B: |\n    line one\n    line two\n  C: 'x'\n";
        assert_eq!(
            shown(text),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  A: <R>\nstringData:\n  B: <R>  C: <R>\n"
        );
    }

    #[test]
    fn kind_after_data_and_other_kinds() {
        let text = "data: {A: x}\nkind: Secret\n---\nkind: ConfigMap\ndata: {A: visible}\n";
        assert_eq!(
            shown(text),
            "data: {A: <R>}\nkind: Secret\n---\nkind: ConfigMap\ndata: {A: visible}\n"
        );
    }

    #[test]
    fn one_line_json_with_a_service_and_a_secret() {
        let text = r#"{"kind":"List","items":[{"kind":"Service","metadata":{"name":"a"}},{"kind":"Secret","stringData":{"K":"MARK"},"data":{"L":"TUFSSw=="}}]}"#;
        let out = shown(text);
        assert!(!out.contains("MARK") && !out.contains("TUFS"), "{out}");
        assert!(out.contains(r#""metadata":{"name":"a"}"#), "{out}");
        assert!(out.contains(r#""K":<R>"#), "{out}");
    }

    #[test]
    fn a_document_that_stops_early_hides_the_rest_while_it_may_be_a_secret() {
        // The error comes before `kind`: the rest may be a Secret's value.
        let text = "data:\n  K: MARK: x\nkind: Secret\n";
        let out = shown(text);
        assert!(!out.contains("MARK"), "{out}");
        assert!(out.starts_with("data:\n  K: <R>"), "{out}");
        // A Service with a syntax error shows its text.
        let text = "kind: Service\nspec: {a: [1}\n";
        assert_eq!(shown(text), text);
        // Unknown kind, error at once.
        assert!(!shown("\"K\": \"MARK\n").contains("MARK"));
    }

    #[test]
    fn aliases_into_secret_values_hide_their_anchor() {
        let text = "kind: Secret\nmetadata: {annotations: {a: &v MARK}}\ndata: {K: *v}\n";
        assert!(!shown(text).contains("MARK"), "{}", shown(text));
    }

    #[test]
    fn non_string_kind_or_duplicate_kind_may_be_a_secret() {
        assert!(!shown("kind: [Secret]\ndata: {K: MARK}\n").contains("MARK"));
        assert!(!shown("kind: ConfigMap\nkind: Secret\ndata: {K: MARK}\n").contains("MARK"));
        assert!(!shown("data: {K: {deep: [MARK]}}\n").contains("MARK"));
    }

    #[test]
    fn lookup() {
        let spans = vec![2..4, 8..9];
        assert!(!is_redacted(&spans, 1));
        assert!(is_redacted(&spans, 2) && is_redacted(&spans, 3));
        assert!(!is_redacted(&spans, 4));
        assert!(is_redacted(&spans, 8) && !is_redacted(&spans, 9));
    }
}
