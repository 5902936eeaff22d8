//! Rendering the typed job as an HCL2 job file, written directly in the layout of a
//! hand-written one (what hcl-rs's formatter gave, with `=` signs lined up as `nomad fmt` does).

use super::{format_duration, is_identifier};
use crate::nomad::model::Job;
use crate::nomad::schema::{Field, FieldType, schema};
use serde_json::{Map, Value};
use std::fmt::Write as _;

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
    let mut value = serde_json::to_value(job).unwrap_or(Value::Null);
    super::jobspec::to_blocks(&mut value);
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

#[cfg(test)]
mod tests {
    use super::*;
    // The writer's templates must read back as the same strings.
    use crate::nomad::hcl::parse::expr_value;
    use hcl::Body;

    #[test]
    fn aligns_attributes() {
        let mut out = String::new();
        align_equals_into(&mut out, "a {\n  x = 1\n  long = 2\n\n  y = 3\n}\n");
        assert_eq!(out, "a {\n  x    = 1\n  long = 2\n\n  y = 3\n}\n");
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
}
