//! Where the Secret values of an input are, as byte spans, so that diagnostics can show the
//! source around a finding without showing a Secret's value (docs/security.md, "Secrets").
//!
//! In an object (a document's root mapping, an item of an object's `items`, an element of a
//! document that is a sequence) that is or may be a Secret — its `kind` is `Secret`, missing,
//! not a plain kind name, or mentions `secret` — a span covers the value of every field but
//! `apiVersion`, `kind`, `metadata`, `type`, `immutable` and `items` (a misspelt `stringdata`
//! holds values too); elsewhere, the values of `data` and `stringData` of such a mapping. Keys
//! stay visible when they are key names. Spans are bytes, not lines: one line of compact JSON
//! or YAML flow style may hold a Service and a Secret side by side. A document that stops at a
//! syntax error is hidden from the last place libyaml read to its end while it may still hold
//! a Secret (an object open may be one, or the text says `Secret` or has an escape that could
//! spell it); one nested too deeply to be parsed safely is hidden whole.
//!
//! What it is not: the snippet renderer (`findings::render_human` draws the placeholder), nor
//! a guard of anything but diagnostics; Secret values are never kept after loading
//! (`resources.rs`).

use super::documents::{DocumentChunk, document_chunks};
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
        // After a syntax error the structure of the rest is unknown (the error may be exactly
        // that it is not what it seems), so the rest is shown only when no object open is, or
        // may be, a Secret and the text cannot name one: no `Secret`, no escape that could
        // spell it.
        let may_name_a_secret = text.contains("Secret") || text.contains('\\');
        let tail_may_be_secret = walk.open_may_be_secret() || may_name_a_secret;
        // A redacted value still open runs to the end of what is known.
        for frame in &walk.frames {
            let owner_may_be_secret = walk
                .frames
                .get(frame.owner)
                .is_none_or(|m| may_be_secret(&m.kinds));
            if frame.redacting && owner_may_be_secret {
                spans.push(frame.start..text.len());
            }
        }
        // A kind read just before the error may be the error's first word (`kind: bad: [`).
        for frame in walk.frames.drain(..).rev() {
            if frame.mapping && (may_name_a_secret || may_be_secret(&frame.kinds)) {
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

/// Whether a mapping with these `kind` values (`None`: not a plain string) may be a Secret:
/// only kinds that are plainly another kind — a Kubernetes kind name (letters and digits) not
/// mentioning `secret` — are not. A kind like `"Secret\nbad"` (a plain scalar folded over a
/// syntax error) may still be one.
fn may_be_secret(kinds: &[Option<String>]) -> bool {
    let other_kind = |k: &String| {
        k.starts_with(|c: char| c.is_ascii_alphabetic())
            && k.chars().all(|c| c.is_ascii_alphanumeric())
            && !k.to_ascii_lowercase().contains("secret")
    };
    kinds.is_empty() || kinds.iter().any(|k| !k.as_ref().is_some_and(other_kind))
}

/// A Secret or ConfigMap key as Kubernetes validates it (apimachinery IsConfigMapKey:
/// `[-._a-zA-Z0-9]+`, at most 253 characters); anything else in a key's place is content.
fn is_key_name(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
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
    /// For a data mapping: the span of the current entry's key, shown once a value follows.
    key_span: Option<Range<usize>>,
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
                // A sequence as a document holds objects as `items` does.
                let items = !mapping
                    && parent.is_none_or(|p| {
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
                    Role::Key | Role::Plain => {}
                    Role::DataOf(owner) if mapping => frame.values_of = Some(owner),
                    Role::DataOf(owner) | Role::EntryOf(owner) | Role::DataKey(owner) => {
                        frame.redacting = true;
                        frame.owner = owner;
                    }
                }
                self.frames.push(frame);
            }
            EventKind::Scalar(value) => {
                match self.value_role() {
                    Role::DataOf(owner) | Role::EntryOf(owner) => {
                        self.record(owner, event.span.clone())
                    }
                    // Only what Kubernetes accepts as a key name is shown as one, and only
                    // once a value follows it (see below).
                    Role::DataKey(owner) if !is_key_name(value) => {
                        self.record(owner, event.span.clone())
                    }
                    Role::DataKey(_) => {
                        if let Some(parent) = self.frames.last_mut() {
                            parent.key_span = Some(event.span.clone());
                        }
                    }
                    _ => {}
                }
                // A key with no value (`{K, 'MARK'}`: junk made the value a second key) is no
                // key name but what a value was: hide it.
                let parent_index = self.frames.len().saturating_sub(1);
                let owner = self
                    .frames
                    .last()
                    .and_then(|p| p.values_of.or(p.object.then_some(parent_index)));
                if event.span.is_empty()
                    && let Some(owner) = owner
                    && let Some(key) = self.frames.last_mut().and_then(|p| p.key_span.take())
                {
                    self.record(owner, key);
                }
                // A document that is one scalar is no object; its text may be anything (the
                // rest of a Secret cut off by a stray `---`).
                if self.frames.is_empty() {
                    self.spans.push(event.span.clone());
                }
                if let Some(anchor) = &event.anchor {
                    self.anchors.insert(anchor.clone(), event.span.clone());
                }
                self.node_done(Some(value));
            }
            EventKind::Alias(name) => {
                if self.frames.is_empty() {
                    self.spans.push(event.span.clone());
                }
                let owner = match self.value_role() {
                    Role::DataOf(owner) | Role::EntryOf(owner) | Role::DataKey(owner) => {
                        self.record(owner, event.span.clone());
                        Some(owner)
                    }
                    Role::Key | Role::Plain => self.redacting_owner(),
                };
                // The alias stands for text elsewhere: hide that text too.
                if let Some(owner) = owner
                    && let Some(target) = self.anchors.get(name).cloned()
                {
                    self.record(owner, target);
                }
                self.node_done(None);
            }
        }
    }

    /// The role of the node that starts now, from its parent.
    fn value_role(&self) -> Role {
        // Inside a value hidden whole, nodes still get their own role: a Secret nested in an
        // unknown field of a known object must be judged on its own kind.
        let Some(parent) = self.frames.last() else {
            return Role::Plain;
        };
        if parent.mapping && parent.expecting_key {
            // A data field's key is shown when it is a plain scalar (a key name); a mapping or
            // alias as a key is content.
            return match (parent.values_of, parent.object) {
                (Some(owner), _) => Role::DataKey(owner),
                // An object's field names too: a mapping in a key's place is content.
                (None, true) => Role::DataKey(self.frames.len() - 1),
                (None, false) => Role::Key,
            };
        }
        if let Some(owner) = parent.values_of {
            return Role::EntryOf(owner);
        }
        if !parent.mapping {
            return Role::Plain;
        }
        let key = parent.key.as_deref();
        // In an object every field but those a Secret shares with any object may hold a value
        // (`stringdata` misspelt, a field a later Kubernetes adds); elsewhere only data fields.
        let holds_values = if parent.object {
            // `items` holds objects, each judged on its own kind.
            !matches!(
                key,
                Some("apiVersion" | "kind" | "metadata" | "type" | "immutable" | "items")
            )
        } else {
            matches!(key, Some("data" | "stringData"))
        };
        if holds_values {
            Role::DataOf(self.frames.len() - 1)
        } else {
            Role::Plain
        }
    }

    /// The mapping the outermost redacted ancestor records its span on, when inside one.
    fn redacting_owner(&self) -> Option<usize> {
        self.frames.iter().find(|f| f.redacting).map(|f| f.owner)
    }

    /// Whether text not read yet may be a Secret value: the innermost open object is not known
    /// to be something else (or there is none yet), a redacted value is open, or an `items`
    /// list is open (after a syntax error, the rest may be a later item, perhaps a Secret).
    fn open_may_be_secret(&self) -> bool {
        if self.frames.iter().any(|f| f.items) {
            return true;
        }
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
    /// The value of `data`/`stringData` of the mapping at this frame index.
    DataOf(usize),
    /// The value of one entry of `data`/`stringData` of the mapping at this frame index.
    EntryOf(usize),
    /// A key of `data`/`stringData` of the mapping at this frame index: shown when a scalar.
    DataKey(usize),
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
        // Found by the property test: the kind read before the error is the error's own word.
        let text = "{\"stringData\": {\"K\": \"MARK\"}, \"kind\":\n  bad: [1, 2\n \"Secret\"}\n";
        assert!(!shown(text).contains("MARK"), "{}", shown(text));
        // Found by the property test: the error hides that a Secret follows.
        let text = "{kind: List, items:\"x\" [{stringData: {K: MARK}, kind: Secret}]}";
        assert!(!shown(text).contains("MARK"), "{}", shown(text));
        // Unknown kind, error at once.
        assert!(!shown("\"K\": \"MARK\n").contains("MARK"));
        // Found by the property test: a stray `---` leaves the rest as a scalar document.
        assert!(
            !shown("{\"a\": \"\n---\nb\":{\"K\":\"MARK\"},\"kind\":\"Secret\"}\n").contains("MARK")
        );
    }

    /// Found by the property test: a syntax error inside a List's Service, a Secret after it.
    #[test]
    fn an_error_in_a_list_item_hides_the_items_after_it() {
        let text = r#"{"kind":"List","items":[{"kind":"Service","spec":[[{}]}},{"stringData":{"K":"MARK"},"kind":"Secret"}]}"#;
        assert!(!shown(text).contains("MARK"), "{}", shown(text));
    }

    /// Found by the property test: a Secret inside an unclosed value of an unknown object.
    #[test]
    fn an_open_redacted_value_runs_to_the_end() {
        let text =
            "{\n  bad: [1, 2\n\"x\":1,{\"kind\":\"Secret\",\"stringData\":{\"K\":\"MARK\"}}]}";
        assert!(!shown(text).contains("MARK"), "{}", shown(text));
    }

    /// Found by the property test: a Secret inside an unknown field of a List.
    #[test]
    fn a_secret_inside_a_hidden_value_of_another_kind_is_judged_on_its_own() {
        let text = r#"{"kind":"List","xitems":[{"stringData":{"K":"MARK"},"kind":"Secret"}]}"#;
        assert!(!shown(text).contains("MARK"), "{}", shown(text));
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
        // Found by the property test: a kind folded over the line of a syntax error.
        let text = "stringData:\n  K: MARK\nkind: Secret\n\n  bad: [1, 2\n";
        assert!(!shown(text).contains("MARK"), "{}", shown(text));
        assert!(!shown("data: {K: {deep: [MARK]}}\n").contains("MARK"));
        // Found by the property test: a mapping as a key of data is content, not a key name.
        assert!(!shown("kind: Secret\ndata: {{K: MARK}: x}\n").contains("MARK"));
        // Found by the long property run: a tag that turns a Secret's value into a key.
        assert!(!shown("{!x: {K: MARK}, kind: Secret}\n").contains("MARK"));
        // Found by the long property run: junk that turns a value into a key without value.
        assert!(!shown("kind: Secret\ndata: {K:-, 'MARK'}\n").contains("MARK"));
        assert!(!shown("{kind: Secret, 'MARK'}\n").contains("MARK"));
        // Found by the long property run: junk that makes the value part of a key.
        assert!(!shown("kind: Secret\ndata: {K:\"q\" 'MARK'}\n").contains("MARK"));
    }

    #[test]
    fn any_field_of_a_secret_but_the_common_ones_is_hidden() {
        let text =
            "kind: Secret\ntype: Opaque\nmetadata: {name: s}\nstringdata: {K: MARK}\nextra: MARK\n";
        assert_eq!(
            shown(text),
            "kind: Secret\ntype: Opaque\nmetadata: {name: s}\nstringdata: {K: <R>}\nextra: <R>\n"
        );
        // A known other kind keeps its fields visible.
        let text = "kind: Service\nspec: {x: 1}\n";
        assert_eq!(shown(text), text);
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
