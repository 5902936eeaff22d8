//! HCL2 job files: rendering the typed job (through its API JSON form) in the layout of a
//! hand-written Nomad job file, and parsing such files back to API JSON.
//!
//! Both directions read block names, labels and duration fields from the API field list
//! ([`super::schema`]), so HCL and JSON cannot drift apart. The parser handles the plain HCL this
//! tool writes (blocks, attributes, literals, string templates); variables and functions are
//! rejected with a hint to use `nomad job run -output`.

use super::model::Job;
use super::schema::{Field, FieldType, schema};
use hcl::expr::{Expression, ObjectKey};
use hcl::{Block, BlockLabel, Body, Structure};
use serde_json::{Map, Value};
use std::fmt::Write as _;

use super::SECOND;

/// Renders a job as an HCL2 job file.
pub fn render_job(job: &Job) -> String {
    let mut out = String::new();
    render_job_into(&mut out, job);
    out
}

/// Appends the job file's text to `out` (after a header the caller may have written).
///
/// The text is written directly, in the layout hcl-rs's formatter gives (two-space indents, a
/// blank line between attributes and blocks and between blocks, compact arrays, multi-line
/// objects), and then the `=` signs are lined up. Building hcl-rs's syntax tree and formatting
/// it cost about three times as much, which mattered for batches of thousands of services; the
/// layout rules are pinned by the tests below and by every snapshot in `snapshots/`.
pub fn render_job_into(out: &mut String, job: &Job) {
    let value = serde_json::to_value(job).unwrap_or(Value::Null);
    let empty = Map::new();
    let obj = value.as_object().unwrap_or(&empty);
    let id = obj.get("ID").and_then(Value::as_str).unwrap_or("");
    let mut skip = vec!["ID"];
    if obj.get("Name").and_then(Value::as_str) == Some(id) {
        skip.push("Name");
    }
    let mut w = Writer {
        out: String::with_capacity(4096),
        indent: 0,
        state: State::Start,
    };
    w.begin_block("job", Some(id));
    struct_body(&mut w, "Job", obj, &skip);
    w.end_block();
    align_equals_into(out, &w.out);
}

/// Where the writer is, for the blank-line rules of hcl-rs's formatter.
#[derive(Clone, Copy, PartialEq)]
enum State {
    Start,
    AttributeEnd,
    BlockBodyStart,
    BlockEnd,
}

struct Writer {
    out: String,
    indent: usize,
    state: State,
}

impl Writer {
    fn write_indent(&mut self, n: usize) {
        for _ in 0..n {
            self.out.push_str("  ");
        }
    }

    /// A blank line after an attribute run before a block, after a block before anything, and
    /// never at the top of a body.
    fn separate(&mut self, next_is_block: bool) {
        let blank = match self.state {
            State::AttributeEnd => next_is_block,
            State::BlockEnd => true,
            State::BlockBodyStart => true,
            State::Start => false,
        };
        if blank {
            self.out.push('\n');
        }
    }

    fn begin_block(&mut self, name: &str, label: Option<&str>) {
        self.separate(true);
        self.write_indent(self.indent);
        push_ident(&mut self.out, name);
        if let Some(label) = label {
            self.out.push(' ');
            push_string(&mut self.out, label);
        }
        self.out.push_str(" {");
        self.indent += 1;
        self.state = State::BlockBodyStart;
    }

    fn end_block(&mut self) {
        self.state = State::BlockEnd;
        self.indent -= 1;
        self.write_indent(self.indent);
        self.out.push_str("}\n");
    }

    fn begin_attribute(&mut self, key: &str) {
        self.separate(false);
        self.write_indent(self.indent);
        push_ident(&mut self.out, key);
        self.out.push_str(" = ");
    }

    fn end_attribute(&mut self) {
        self.state = State::AttributeEnd;
        self.out.push('\n');
    }

    fn attribute(&mut self, key: &str, v: &Value) {
        self.begin_attribute(key);
        self.value(v);
        self.end_attribute();
    }

    fn field_attribute(&mut self, key: &str, ty: &FieldType, v: &Value) {
        match (ty, v) {
            (FieldType::Duration, Value::Number(n)) => {
                self.begin_attribute(key);
                push_string(&mut self.out, &format_duration(n.as_i64().unwrap_or(0)));
                self.end_attribute();
            }
            _ => self.attribute(key, v),
        }
    }

    /// An expression: arrays on one line, objects one key per line.
    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => push_number(&mut self.out, n),
            Value::String(s) => push_string(&mut self.out, s),
            Value::Array(items) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.value(item);
                }
                self.out.push(']');
            }
            Value::Object(o) => {
                self.out.push('{');
                self.indent += 1;
                for (k, item) in o {
                    self.out.push('\n');
                    self.write_indent(self.indent);
                    push_object_key(&mut self.out, k);
                    self.out.push_str(" = ");
                    self.value(item);
                }
                self.indent -= 1;
                if !o.is_empty() {
                    self.out.push('\n');
                    self.write_indent(self.indent);
                }
                self.out.push('}');
            }
        }
    }
}

/// Children that read best at the end of their parent: groups in a job, tasks in a group.
fn principal_child(struct_name: &str, field: &str) -> bool {
    matches!(
        (struct_name, field),
        ("Job", "TaskGroups") | ("TaskGroup", "Tasks")
    )
}

/// A struct's attributes in field-list order, then its blocks (principal children last).
fn struct_body(w: &mut Writer, struct_name: &str, obj: &Map<String, Value>, skip: &[&str]) {
    let fields = schema().fields(struct_name);
    // Present fields by their place in the field list. Scanning the short list per key is far
    // cheaper than hashing every field name of the struct into the object.
    let mut present: Vec<(usize, &Field, &Value)> = obj
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            let i = fields.iter().position(|f| f.name == *k)?;
            let f = &fields[i];
            (!f.label && f.hcl_name.is_some()).then_some((i, f, v))
        })
        .collect();
    present.sort_by_key(|(i, f, _)| {
        (
            f.block,
            f.block && principal_child(struct_name, &f.name),
            *i,
        )
    });
    for (_, f, v) in present {
        let Some(name) = &f.hcl_name else { continue };
        if f.block {
            field_blocks(w, name, &f.ty, v);
        } else {
            w.field_attribute(name, &f.ty, v);
        }
    }
}

fn field_blocks(w: &mut Writer, name: &str, ty: &FieldType, v: &Value) {
    match (ty, v) {
        (FieldType::Struct(s), Value::Object(o)) => struct_block(w, name, s, o, None),
        (FieldType::List(inner), Value::Array(items)) => match inner.as_ref() {
            FieldType::Struct(s) => {
                for o in items.iter().filter_map(Value::as_object) {
                    struct_block(w, name, s, o, None);
                }
            }
            _ => w.field_attribute(name, ty, v),
        },
        (FieldType::Map(inner), Value::Object(o)) => match inner.as_ref() {
            FieldType::Struct(s) => {
                for (k, item) in o {
                    if let Some(io) = item.as_object() {
                        struct_block(w, name, s, io, Some(k));
                    }
                }
            }
            _ if o.keys().all(|k| is_identifier(k)) => {
                w.begin_block(name, None);
                for (k, item) in o {
                    w.attribute(k, item);
                }
                w.end_block();
            }
            // Keys such as `app.kubernetes.io/name` are not HCL identifiers: use map syntax.
            _ => w.attribute(name, v),
        },
        (FieldType::Any, Value::Object(o)) => {
            w.begin_block(name, None);
            free_body(w, o);
            w.end_block();
        }
        _ => w.field_attribute(name, ty, v),
    }
}

fn struct_block(
    w: &mut Writer,
    name: &str,
    struct_name: &str,
    o: &Map<String, Value>,
    map_key: Option<&str>,
) {
    let label = map_key.or_else(|| {
        schema()
            .fields(struct_name)
            .iter()
            .find(|f| f.label)
            .and_then(|f| o.get(&f.name))
            .and_then(Value::as_str)
    });
    w.begin_block(name, label);
    struct_body(w, struct_name, o, &[]);
    w.end_block();
}

/// Free-form bodies (driver config, autoscaler policy): objects are blocks, arrays of objects
/// repeated blocks, and `[{label: [{...}]}]` — how Nomad stores labelled blocks — labelled blocks.
fn free_body(w: &mut Writer, o: &Map<String, Value>) {
    let is_blocks = |v: &Value| match v {
        Value::Object(_) => true,
        Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_object),
        _ => false,
    };
    for (k, v) in o.iter().filter(|(_, v)| !is_blocks(v)) {
        w.attribute(k, v);
    }
    for (k, v) in o.iter().filter(|(_, v)| is_blocks(v)) {
        match v {
            Value::Object(inner) => {
                w.begin_block(k, None);
                free_body(w, inner);
                w.end_block();
            }
            Value::Array(items) => {
                for item in items.iter().filter_map(Value::as_object) {
                    let (label, body) = match labelled(item) {
                        Some((label, body)) => (Some(label), body),
                        None => (None, item),
                    };
                    w.begin_block(k, label);
                    free_body(w, body);
                    w.end_block();
                }
            }
            _ => {}
        }
    }
}

fn labelled(item: &Map<String, Value>) -> Option<(&str, &Map<String, Value>)> {
    if item.len() != 1 {
        return None;
    }
    let (label, v) = item.iter().next()?;
    match v.as_array().map(Vec::as_slice) {
        Some([Value::Object(body)]) => Some((label.as_str(), body)),
        _ => None,
    }
}

/// An attribute or block name; anything that is not an identifier has its invalid characters
/// replaced, as hcl-rs does.
fn push_ident(out: &mut String, s: &str) {
    if is_identifier(s) {
        out.push_str(s);
    } else {
        out.push_str(&hcl::Identifier::sanitized(s));
    }
}

/// An object key: bare when it is an identifier other than a literal keyword, else quoted.
fn push_object_key(out: &mut String, k: &str) {
    if is_identifier(k) && !matches!(k, "true" | "false" | "null" | "for") {
        out.push_str(k);
    } else {
        push_string(out, k);
    }
}

/// Numbers as hcl-rs prints them (integers exactly, integral floats as integers, others in the
/// shortest form that reads back to the same float), except that integers above `i64::MAX`
/// stay exact instead of going through a float.
fn push_number(out: &mut String, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
        return;
    }
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
        return;
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if !f.is_finite() {
        out.push_str("null");
    } else if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
        let _ = write!(out, "{}", f as i64);
    } else if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) {
        let _ = write!(out, "{}", f as u64);
    } else {
        out.push_str(ryu::Buffer::new().format_finite(f));
    }
}

/// A quoted string literal. `${` and `%{` start templates in HCL, so they are doubled to stay
/// literal (hcl-rs 0.20 misses a marker right after a `$` or `%`: `$${$${` came back as
/// `$${${`, so this does not go through hcl-rs).
fn push_string(out: &mut String, s: &str) {
    out.push('"');
    let markers = s.contains("${") || s.contains("%{");
    if !markers && !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' | '%' if markers && chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// HCL identifiers: a letter or `_`, then letters, digits, `_` and `-`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A Go duration string as Nomad accepts: the largest exact unit (`90s`, `5m`, `1h`).
pub fn format_duration(ns: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (3600 * SECOND, "h"),
        (60 * SECOND, "m"),
        (SECOND, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    if ns == 0 {
        return "0s".to_string();
    }
    for (unit, suffix) in UNITS {
        if ns % unit == 0 {
            return format!("{}{suffix}", ns / unit);
        }
    }
    format!("{ns}ns")
}

/// Parses a Go duration (`1h30m`, `10s`, `250ms`) into nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => SECOND,
            "m" => 60 * SECOND,
            "h" => 3600 * SECOND,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total = total.checked_add((number * unit as f64).round() as i64)?;
    }
    Some(total)
}

/// Lines up the `=` of consecutive one-line attributes at the same indentation, as `nomad fmt`
/// does, so generated files read like hand-written ones. Appends the result to `out`.
fn align_equals_into(out: &mut String, text: &str) {
    /// A one-line attribute: its indentation, its key's width, and where ` = ` is.
    type Attr = Option<(usize, usize, usize)>;
    let key_of = |line: &str| -> Attr {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let eq = trimmed.as_bytes().windows(3).position(|w| w == b" = ")?;
        let key = &trimmed[..eq];
        if key.contains(' ') && !key.starts_with('"') {
            return None;
        }
        let value = &trimmed[eq + 3..];
        // Multi-line values (objects, arrays, heredocs) end the run.
        if value.ends_with('{') || value.ends_with('[') || value.starts_with("<<") {
            return None;
        }
        Some((indent, key.chars().count(), eq))
    };
    let lines: Vec<(&str, Attr)> = text.lines().map(|l| (l, key_of(l))).collect();
    out.reserve(text.len() + 256);
    let mut i = 0;
    while i < lines.len() {
        let Some((indent, _, _)) = lines[i].1 else {
            out.push_str(lines[i].0);
            out.push('\n');
            i += 1;
            continue;
        };
        let run = lines[i..]
            .iter()
            .take_while(|(_, k)| matches!(k, Some((ind, _, _)) if *ind == indent))
            .count();
        let width = lines[i..i + run]
            .iter()
            .filter_map(|(_, k)| k.map(|(_, w, _)| w))
            .max()
            .unwrap_or(0);
        for (line, key) in &lines[i..i + run] {
            let Some((indent, w, eq)) = *key else {
                continue;
            };
            out.push_str(&line[..indent + eq]);
            out.extend(std::iter::repeat_n(' ', width - w));
            out.push_str(&line[indent + eq..]);
            out.push('\n');
        }
        i += run;
    }
}

/// Adds `# comment` to the lines of rendered HCL whose path is in `notes`. A path names blocks
/// from the job down, `/`-separated: a labelled block as `ident[label]`, other blocks as
/// `ident`, repeated ones as `ident#n` (n counts from 0 among siblings), then the attribute or
/// map key, e.g. `job/group/task[app]/resources/cpu` or `job/group/service/check#1`.
pub fn annotate(text: &str, notes: &std::collections::BTreeMap<String, String>) -> String {
    if notes.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() * 2);
    // Each open block: its path segment and how many of each child block it has seen.
    let mut stack: Vec<(String, std::collections::HashMap<String, usize>)> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        let mut path_here: Option<String> = None;
        if trimmed == "}" {
            stack.pop();
        } else if let Some(head) = trimmed.strip_suffix('{') {
            let head = head.trim_end();
            let (ident, label, is_map) = match head.strip_suffix('=') {
                Some(key) => (key.trim().trim_matches('"').to_string(), None, true),
                None => {
                    let mut parts = head.splitn(2, ' ');
                    let ident = parts.next().unwrap_or("").to_string();
                    let label = parts.next().map(|l| l.trim().trim_matches('"').to_string());
                    (ident, label, false)
                }
            };
            let segment = match (&label, stack.last_mut()) {
                (Some(l), _) => format!("{ident}[{l}]"),
                (None, Some((_, seen))) if !is_map && ident != "job" => {
                    let n = seen.entry(ident.clone()).or_insert(0);
                    let segment = if *n == 0 {
                        ident.clone()
                    } else {
                        format!("{ident}#{n}")
                    };
                    *n += 1;
                    segment
                }
                _ => ident.clone(),
            };
            let segment = if ident == "job" {
                "job".to_string()
            } else {
                segment
            };
            let parent: Vec<&str> = stack.iter().map(|(s, _)| s.as_str()).collect();
            let full = if parent.is_empty() {
                segment.clone()
            } else {
                format!("{}/{segment}", parent.join("/"))
            };
            path_here = Some(full);
            stack.push((segment, std::collections::HashMap::new()));
        } else if let Some(eq) = trimmed.find(" = ") {
            let key = trimmed[..eq].trim().trim_matches('"');
            let parent: Vec<&str> = stack.iter().map(|(s, _)| s.as_str()).collect();
            path_here = Some(format!("{}/{key}", parent.join("/")));
        }
        out.push_str(line);
        if let Some(note) = path_here.as_ref().and_then(|p| notes.get(p)) {
            out.push_str(" # ");
            out.push_str(&note.replace('\n', " "));
        }
        out.push('\n');
    }
    out
}

/// Parses an HCL2 job file into Nomad API JSON (the `Job` object).
pub fn parse_job(text: &str) -> Result<Value, String> {
    let body: Body = hcl::parse(text).map_err(|e| format!("HCL syntax error: {e}"))?;
    let mut jobs = body.blocks().filter(|b| b.identifier() == "job");
    let job = jobs.next().ok_or("no `job` block found")?;
    if jobs.next().is_some() {
        return Err("more than one `job` block in one file".to_string());
    }
    if let Some(other) = body.iter().find_map(|s| match s {
        Structure::Attribute(a) => Some(a.key().to_string()),
        Structure::Block(b) if b.identifier() != "job" => Some(b.identifier().to_string()),
        _ => None,
    }) {
        return Err(format!(
            "top-level `{other}` is not part of a plain job file (variables, locals): use `nomad job run -output FILE` to get the job's JSON and validate that"
        ));
    }
    let id = match job.labels() {
        [label] => label_str(label),
        _ => return Err("`job` needs exactly one label (the job ID)".to_string()),
    };
    let mut obj = parse_struct("Job", job.body(), "job")?;
    obj.insert("ID".to_string(), Value::String(id.clone()));
    obj.entry("Name".to_string()).or_insert(Value::String(id));
    Ok(Value::Object(obj))
}

fn label_str(l: &BlockLabel) -> String {
    match l {
        BlockLabel::String(s) => s.clone(),
        BlockLabel::Identifier(i) => i.to_string(),
    }
}

fn parse_struct(struct_name: &str, body: &Body, path: &str) -> Result<Map<String, Value>, String> {
    let s = schema();
    let mut obj = Map::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(a) => {
                let key = a.key();
                let field = s
                    .field_by_hcl(struct_name, key)
                    .filter(|f| !f.label)
                    .ok_or_else(|| format!("{path}: unknown attribute `{key}`"))?;
                let value = expr_value(a.expr(), &format!("{path}.{key}"))?;
                let value = match (&field.ty, &value) {
                    (FieldType::Duration, Value::String(d)) => Value::from(
                        parse_duration(d)
                            .ok_or_else(|| format!("{path}.{key}: invalid duration {d:?}"))?,
                    ),
                    _ => value,
                };
                obj.insert(field.name.clone(), value);
            }
            Structure::Block(b) => {
                let ident = b.identifier();
                let field = s
                    .field_by_hcl(struct_name, ident)
                    .ok_or_else(|| format!("{path}: unknown block `{ident}`"))?;
                let child_path = format!("{path}.{ident}");
                match &field.ty {
                    FieldType::Struct(inner) => {
                        let v = parse_labelled(inner, b, &child_path)?;
                        obj.insert(field.name.clone(), Value::Object(v));
                    }
                    FieldType::List(inner) => {
                        let FieldType::Struct(inner) = inner.as_ref() else {
                            return Err(format!(
                                "{child_path}: `{ident}` is an attribute, not a block"
                            ));
                        };
                        let v = parse_labelled(inner, b, &child_path)?;
                        let entry = obj
                            .entry(field.name.clone())
                            .or_insert_with(|| Value::Array(Vec::new()));
                        if let Value::Array(items) = entry {
                            items.push(Value::Object(v));
                        }
                    }
                    FieldType::Map(inner) => {
                        let entry = obj
                            .entry(field.name.clone())
                            .or_insert_with(|| Value::Object(Map::new()));
                        let Value::Object(map) = entry else { continue };
                        if let FieldType::Struct(inner) = inner.as_ref() {
                            let label = b
                                .labels()
                                .first()
                                .map(label_str)
                                .ok_or_else(|| format!("{child_path}: block needs a label"))?;
                            let v = parse_labelled(inner, b, &child_path)?;
                            map.insert(label, Value::Object(v));
                        } else {
                            for a in b.body().attributes() {
                                map.insert(a.key().to_string(), expr_value(a.expr(), &child_path)?);
                            }
                        }
                    }
                    FieldType::Any => {
                        let docker = struct_name == "Task" && ident == "config";
                        obj.insert(
                            field.name.clone(),
                            Value::Object(free_parse(b.body(), docker, &child_path)?),
                        );
                    }
                    _ => {
                        return Err(format!(
                            "{child_path}: `{ident}` is an attribute, not a block"
                        ));
                    }
                }
            }
        }
    }
    Ok(obj)
}

fn parse_labelled(struct_name: &str, b: &Block, path: &str) -> Result<Map<String, Value>, String> {
    let mut v = parse_struct(struct_name, b.body(), path)?;
    if let Some(label_field) = schema().fields(struct_name).iter().find(|f| f.label)
        && let Some(l) = b.labels().first()
    {
        v.insert(label_field.name.clone(), Value::String(label_str(l)));
    }
    Ok(v)
}

/// The inverse of [`free_body`]. For docker config, the option list says which blocks repeat.
fn free_parse(body: &Body, docker: bool, path: &str) -> Result<Map<String, Value>, String> {
    let mut obj = Map::new();
    for a in body.attributes() {
        obj.insert(a.key().to_string(), expr_value(a.expr(), path)?);
    }
    let mut counts = std::collections::HashMap::new();
    for b in body.blocks() {
        *counts.entry(b.identifier().to_string()).or_insert(0usize) += 1;
    }
    for b in body.blocks() {
        let key = b.identifier().to_string();
        let inner = free_parse(b.body(), false, path)?;
        let repeated = counts.get(&key).copied().unwrap_or(0) > 1
            || (docker
                && schema()
                    .docker
                    .get(&key)
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.starts_with("list")));
        match b.labels().first() {
            Some(label) => {
                let item = serde_json::json!({ label_str(label): [Value::Object(inner)] });
                let entry = obj.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = entry {
                    items.push(item);
                }
            }
            None if repeated => {
                let entry = obj.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = entry {
                    items.push(Value::Object(inner));
                }
            }
            None => {
                obj.insert(key, Value::Object(inner));
            }
        }
    }
    Ok(obj)
}

fn expr_value(e: &Expression, path: &str) -> Result<Value, String> {
    Ok(match e {
        Expression::Null => Value::Null,
        Expression::Bool(b) => Value::Bool(*b),
        Expression::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(f)) => Value::from(f),
            _ => Value::Null,
        },
        Expression::String(s) => Value::String(s.clone()),
        Expression::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| expr_value(i, path))
                .collect::<Result<_, _>>()?,
        ),
        Expression::Object(o) => {
            let mut m = Map::new();
            for (k, v) in o {
                let key = match k {
                    ObjectKey::Identifier(i) => i.to_string(),
                    ObjectKey::Expression(Expression::String(s)) => s.clone(),
                    ObjectKey::Expression(other) => match expr_value(other, path)? {
                        Value::String(s) => s,
                        _ => return Err(format!("{path}: object keys must be strings")),
                    },
                    _ => return Err(format!("{path}: unsupported object key")),
                };
                m.insert(key, expr_value(v, path)?);
            }
            Value::Object(m)
        }
        Expression::TemplateExpr(t) => {
            let template = hcl::Template::from_expr(t).map_err(|e| format!("{path}: {e}"))?;
            let mut literal = String::new();
            let mut only_literals = true;
            for el in template.elements() {
                match el {
                    hcl::template::Element::Literal(s) => literal.push_str(s),
                    _ => only_literals = false,
                }
            }
            if only_literals {
                Value::String(literal)
            } else {
                // Runtime interpolation such as ${NOMAD_PORT_http}: Nomad keeps it as text.
                Value::String(template.to_string())
            }
        }
        Expression::Parenthesis(inner) => expr_value(inner, path)?,
        _ => {
            return Err(format!(
                "{path}: variables, functions and expressions are not supported here; use `nomad job run -output FILE` to get the job's JSON and validate that"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(format_duration(90 * SECOND), "90s");
        assert_eq!(format_duration(300 * SECOND), "5m");
        assert_eq!(format_duration(3600 * SECOND), "1h");
        assert_eq!(format_duration(250_000_000), "250ms");
        assert_eq!(parse_duration("1h30m"), Some(5400 * SECOND));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("x"), None);
    }

    #[test]
    fn aligns_attributes() {
        let mut out = String::new();
        align_equals_into(&mut out, "a {\n  x = 1\n  long = 2\n\n  y = 3\n}\n");
        assert_eq!(out, "a {\n  x    = 1\n  long = 2\n\n  y = 3\n}\n");
    }

    /// The writer's layout, value by value: what hcl-rs's formatter (compact arrays) printed
    /// before the writer replaced it, including the cases testdata does not reach.
    #[test]
    fn writes_values_as_hcl_rs_did() {
        let value: Value = serde_json::json!({
            "b": true, "n": null, "i": -3, "u": 18446744073709551615u64, "f": 0.5, "whole": 70.0,
            "s": "a\"b\\c\nd\te\u{1}", "tpl": "$${x} %{y} ${z}", "arr": [1, "two", [], {}],
            "obj": {"plain": 1, "a.b": 2, "true": 3, "${k}": 4, "nested": {"x": [1]}},
            "empty": {}
        });
        let mut w = Writer {
            out: String::new(),
            indent: 1,
            state: State::Start,
        };
        for (k, v) in value.as_object().unwrap() {
            w.attribute(k, v);
        }
        assert_eq!(
            w.out,
            concat!(
                "  b = true\n",
                "  n = null\n",
                "  i = -3\n",
                "  u = 18446744073709551615\n",
                "  f = 0.5\n",
                "  whole = 70\n",
                "  s = \"a\\\"b\\\\c\\nd\\te\\u0001\"\n",
                "  tpl = \"$$${x} %%{y} $${z}\"\n",
                "  arr = [1, \"two\", [], {}]\n",
                "  obj = {\n",
                "    plain = 1\n",
                "    \"a.b\" = 2\n",
                "    \"true\" = 3\n",
                "    \"$${k}\" = 4\n",
                "    nested = {\n",
                "      x = [1]\n",
                "    }\n",
                "  }\n",
                "  empty = {}\n",
            )
        );
        // And it reads back as the same values.
        let body: Body = hcl::parse(&format!("x {{\n{}}}\n", w.out)).unwrap();
        let block = body.blocks().next().unwrap();
        let tpl = block
            .body()
            .attributes()
            .find(|a| a.key() == "tpl")
            .unwrap();
        assert_eq!(expr_value(tpl.expr(), "tpl").unwrap(), "$${x} %{y} ${z}");
    }

    #[test]
    fn separates_blocks_as_hcl_rs_did() {
        let mut w = Writer {
            out: String::new(),
            indent: 0,
            state: State::Start,
        };
        w.begin_block("job", Some("a"));
        w.attribute("x", &Value::from(1));
        w.begin_block("empty", None);
        w.end_block();
        w.begin_block("task", Some("t\"1"));
        w.attribute("y", &Value::from(2));
        w.end_block();
        w.attribute("z", &Value::from(3));
        w.end_block();
        assert_eq!(
            w.out,
            "job \"a\" {\n  x = 1\n\n  empty {  }\n\n  task \"t\\\"1\" {\n    y = 2\n  }\n\n  z = 3\n}\n"
        );
    }

    #[test]
    fn annotates_by_path() {
        let text = "job \"a\" {\n  group \"g\" {\n    check {\n      x = 1\n    }\n    check {\n      x = 2\n    }\n    env = {\n      \"a.b\" = \"c\"\n    }\n  }\n}\n";
        let mut notes = std::collections::BTreeMap::new();
        notes.insert("job/group[g]/check#1/x".to_string(), "second".to_string());
        notes.insert("job/group[g]/env/a.b".to_string(), "dotted".to_string());
        notes.insert("job/group[g]/check".to_string(), "first block".to_string());
        let out = annotate(text, &notes);
        assert!(out.contains("      x = 2 # second\n"));
        assert!(out.contains("      x = 1\n"));
        assert!(out.contains("\"a.b\" = \"c\" # dotted"));
        assert!(out.contains("    check { # first block\n"));
        // Comments do not change what the file says.
        assert_eq!(hcl::parse(&out).unwrap(), hcl::parse(text).unwrap());
    }

    /// Found by the fuzz target: a template marker right after `$` or `%` lost its escape.
    #[test]
    fn template_markers_round_trip() {
        let values = [
            "$${$${",
            "${",
            "$${",
            "%{",
            "%%{",
            "$%{x}",
            "%${x}",
            "$$$${",
            "a\\b\"c\n\t\r\u{1}${x}",
            "é☃𝄞 ${",
            "$(HOME) %{ if }",
        ];
        let env: Map<String, Value> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("V{i}"), Value::String(v.to_string())))
            .collect();
        let mut meta = Map::new();
        meta.insert("k${x}%{y}$${z}".to_string(), Value::String("v".to_string()));
        let job: Job = serde_json::from_value(serde_json::json!({
            "ID": "a", "Name": "a", "Meta": meta,
            "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "docker", "Env": env}]}]
        }))
        .unwrap();
        let text = render_job(&job);
        assert_eq!(
            parse_job(&text).unwrap(),
            serde_json::to_value(&job).unwrap(),
            "{text}"
        );
    }

    #[test]
    fn rejects_variables() {
        let err = parse_job("variable \"x\" {}\njob \"a\" {}\n").unwrap_err();
        assert!(err.contains("nomad job run -output"));
        let err = parse_job("job \"a\" {\n  datacenters = [var.dc]\n}\n").unwrap_err();
        assert!(err.contains("nomad job run -output"));
    }
}
