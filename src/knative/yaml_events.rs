//! YAML parse events with the byte span of each node, read with libyaml (`unsafe-libyaml`), the
//! very parser serde_yaml uses: a span found here is exactly the text serde_yaml read for that
//! node, which is what [`super::redact`] needs to hide Secret values from diagnostics.
//!
//! What it is not: a YAML loader. Scalars are not resolved, aliases not expanded; the events
//! stop at the first syntax error ([`Events::complete`] says whether they reached the end).
//! Callers cap nesting depth first (libyaml's scanner is quadratic in flow nesting).

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::ops::Range;

/// What an event is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    MappingStart,
    SequenceStart,
    /// The end of the innermost open mapping or sequence.
    End,
    /// A scalar and its value (escapes decoded, as serde_yaml reads it).
    Scalar(String),
    /// `*name`.
    Alias(String),
    /// Stream and document boundaries.
    Boundary,
}

/// One event: a node (or a node's end) and the bytes of the text it covers.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    /// `&name` on the node, if any.
    pub anchor: Option<String>,
    pub span: Range<usize>,
}

/// The events of a text, up to the first syntax error.
#[derive(Debug, Default)]
pub struct Events {
    pub events: Vec<Event>,
    /// Whether libyaml read the whole text without a syntax error.
    pub complete: bool,
}

/// Parses `text` into events with byte spans.
pub fn parse(text: &str) -> Events {
    let mut out = Events::default();
    let mut parser = Parser::new(text);
    let Some(state) = parser.state.as_mut() else {
        return out;
    };
    loop {
        let mut raw = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        let event_ptr = raw.as_mut_ptr();
        // SAFETY: the parser was initialised (Parser::new) and reads `text`, which outlives it;
        // on success `yaml_parser_parse` fills the event, which is deleted below.
        if unsafe { unsafe_libyaml::yaml_parser_parse(state.as_mut_ptr(), event_ptr) }.fail {
            return out;
        }
        // SAFETY: a successful `yaml_parser_parse` initialised the event.
        let event = unsafe { &*event_ptr };
        let span = event.start_mark.index as usize..event.end_mark.index as usize;
        // SAFETY: each union field is read only for the event type that defines it, and the
        // anchor and value pointers are NUL-terminated / `length`-long buffers owned by the event.
        let (kind, anchor) = unsafe {
            match event.type_ {
                unsafe_libyaml::YAML_MAPPING_START_EVENT => (
                    EventKind::MappingStart,
                    c_string(event.data.mapping_start.anchor),
                ),
                unsafe_libyaml::YAML_SEQUENCE_START_EVENT => (
                    EventKind::SequenceStart,
                    c_string(event.data.sequence_start.anchor),
                ),
                unsafe_libyaml::YAML_MAPPING_END_EVENT
                | unsafe_libyaml::YAML_SEQUENCE_END_EVENT => (EventKind::End, None),
                unsafe_libyaml::YAML_SCALAR_EVENT => {
                    let scalar = event.data.scalar;
                    let bytes = if scalar.value.is_null() {
                        &[][..]
                    } else {
                        std::slice::from_raw_parts(scalar.value, scalar.length as usize)
                    };
                    (
                        EventKind::Scalar(String::from_utf8_lossy(bytes).into_owned()),
                        c_string(scalar.anchor),
                    )
                }
                unsafe_libyaml::YAML_ALIAS_EVENT => (
                    EventKind::Alias(c_string(event.data.alias.anchor).unwrap_or_default()),
                    None,
                ),
                _ => (EventKind::Boundary, None),
            }
        };
        let stream_end = event.type_ == unsafe_libyaml::YAML_STREAM_END_EVENT;
        // SAFETY: the event was filled by `yaml_parser_parse` and is not used after this.
        unsafe { unsafe_libyaml::yaml_event_delete(event_ptr) };
        out.events.push(Event { kind, anchor, span });
        if stream_end {
            out.complete = true;
            return out;
        }
    }
}

/// A NUL-terminated libyaml string, or None for a null pointer.
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated buffer that lives for the call.
unsafe fn c_string(ptr: *const u8) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated, as the caller promises.
    let text = unsafe { CStr::from_ptr(ptr.cast()) };
    Some(text.to_string_lossy().into_owned())
}

/// An initialised libyaml parser over a borrowed text, deleted on drop. Boxed so that its
/// address never changes while libyaml holds pointers into it.
struct Parser<'text> {
    state: Option<Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>>,
    _text: std::marker::PhantomData<&'text str>,
}

impl<'text> Parser<'text> {
    fn new(text: &'text str) -> Parser<'text> {
        let mut state = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
        let ptr = state.as_mut_ptr();
        // SAFETY: `ptr` points to writable memory for a parser; `initialize` fills it (and says
        // when it could not). `text` outlives the parser through the `'text` lifetime.
        let ready = unsafe {
            if unsafe_libyaml::yaml_parser_initialize(ptr).fail {
                false
            } else {
                unsafe_libyaml::yaml_parser_set_encoding(ptr, unsafe_libyaml::YAML_UTF8_ENCODING);
                unsafe_libyaml::yaml_parser_set_input_string(ptr, text.as_ptr(), text.len() as u64);
                true
            }
        };
        Parser {
            state: ready.then_some(state),
            _text: std::marker::PhantomData,
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        if let Some(state) = self.state.as_mut() {
            // SAFETY: the parser was initialised by `yaml_parser_initialize`.
            unsafe { unsafe_libyaml::yaml_parser_delete(state.as_mut_ptr()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_the_source_text_of_each_node() {
        let text = "a: &x \"v\\u0031\"\nb: [1, {c: d}]\ne: *x\n";
        let events = parse(text);
        assert!(events.complete);
        let scalars: Vec<(&str, &str)> = events
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Scalar(v) => Some((v.as_str(), &text[e.span.clone()])),
                _ => None,
            })
            .collect();
        // A node's span starts at its properties (`&x`).
        assert_eq!(scalars[1], ("v1", "&x \"v\\u0031\""));
        assert_eq!(scalars[4], ("c", "c"));
        let anchored = events.events.iter().find(|e| e.anchor.is_some()).unwrap();
        assert_eq!(anchored.anchor.as_deref(), Some("x"));
        assert!(
            events
                .events
                .iter()
                .any(|e| e.kind == EventKind::Alias("x".into()))
        );
    }

    #[test]
    fn stops_at_a_syntax_error() {
        let events = parse("a: b\nc: [d\n");
        assert!(!events.complete);
        assert!(
            events
                .events
                .iter()
                .any(|e| e.kind == EventKind::Scalar("a".into()))
        );
    }
}
