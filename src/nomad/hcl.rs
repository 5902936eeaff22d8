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
use hcl::{Attribute, Block, BlockLabel, Body, Identifier, Structure};
use serde_json::{Map, Value};

use super::SECOND;

/// Renders a job as an HCL2 job file.
pub fn render_job(job: &Job) -> String {
    let value = serde_json::to_value(job).unwrap_or(Value::Null);
    let obj = value.as_object().cloned().unwrap_or_default();
    let id = obj
        .get("ID")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut skip = vec!["ID"];
    if obj.get("Name").and_then(Value::as_str) == Some(id.as_str()) {
        skip.push("Name");
    }
    let block = Block::builder("job")
        .add_label(id)
        .add_structures(struct_body("Job", &obj, &skip))
        .build();
    let body = Body::builder().add_block(block).build();
    let mut formatter = hcl::format::Formatter::builder()
        .compact_arrays(true)
        .build_vec();
    let text = match hcl::format::Format::format_string(&body, &mut formatter) {
        Ok(text) => text,
        Err(_) => hcl::format::to_string(&body).unwrap_or_default(),
    };
    align_equals(&text)
}

/// Children that read best at the end of their parent: groups in a job, tasks in a group.
fn principal_child(struct_name: &str, field: &str) -> bool {
    matches!(
        (struct_name, field),
        ("Job", "TaskGroups") | ("TaskGroup", "Tasks")
    )
}

fn struct_body(struct_name: &str, obj: &Map<String, Value>, skip: &[&str]) -> Vec<Structure> {
    let fields = schema().fields(struct_name);
    let present = |f: &&Field| {
        obj.contains_key(&f.name)
            && !skip.contains(&f.name.as_str())
            && !f.label
            && f.hcl_name.is_some()
    };
    let mut out: Vec<Structure> = Vec::new();
    for f in fields.iter().filter(present).filter(|f| !f.block) {
        let (Some(name), Some(v)) = (&f.hcl_name, obj.get(&f.name)) else {
            continue;
        };
        out.push(Attribute::new(ident(name), field_expr(&f.ty, v)).into());
    }
    let mut blocks: Vec<&Field> = fields.iter().filter(present).filter(|f| f.block).collect();
    blocks.sort_by_key(|f| principal_child(struct_name, &f.name));
    for f in blocks {
        let (Some(name), Some(v)) = (&f.hcl_name, obj.get(&f.name)) else {
            continue;
        };
        out.extend(field_blocks(name, &f.ty, v));
    }
    out
}

fn field_blocks(name: &str, ty: &FieldType, v: &Value) -> Vec<Structure> {
    match (ty, v) {
        (FieldType::Struct(s), Value::Object(o)) => vec![struct_block(name, s, o, None).into()],
        (FieldType::List(inner), Value::Array(items)) => match inner.as_ref() {
            FieldType::Struct(s) => items
                .iter()
                .filter_map(Value::as_object)
                .map(|o| struct_block(name, s, o, None).into())
                .collect(),
            _ => vec![Attribute::new(ident(name), field_expr(ty, v)).into()],
        },
        (FieldType::Map(inner), Value::Object(o)) => match inner.as_ref() {
            FieldType::Struct(s) => o
                .iter()
                .filter_map(|(k, item)| {
                    item.as_object()
                        .map(|io| struct_block(name, s, io, Some(k)).into())
                })
                .collect(),
            _ if o.keys().all(|k| is_identifier(k)) => {
                let attrs: Vec<Structure> = o
                    .iter()
                    .map(|(k, item)| Attribute::new(ident(k), json_expr(item)).into())
                    .collect();
                vec![
                    Block::builder(ident(name))
                        .add_structures(attrs)
                        .build()
                        .into(),
                ]
            }
            // Keys such as `app.kubernetes.io/name` are not HCL identifiers: use map syntax.
            _ => vec![Attribute::new(ident(name), json_expr(v)).into()],
        },
        (FieldType::Any, Value::Object(o)) => {
            vec![
                Block::builder(ident(name))
                    .add_structures(free_body(o))
                    .build()
                    .into(),
            ]
        }
        _ => vec![Attribute::new(ident(name), field_expr(ty, v)).into()],
    }
}

fn struct_block(
    name: &str,
    struct_name: &str,
    o: &Map<String, Value>,
    map_key: Option<&str>,
) -> Block {
    let label_field = schema().fields(struct_name).iter().find(|f| f.label);
    let mut builder = Block::builder(ident(name));
    let label = map_key.map(str::to_string).or_else(|| {
        label_field
            .and_then(|f| o.get(&f.name))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    if let Some(l) = label {
        builder = builder.add_label(l);
    }
    builder
        .add_structures(struct_body(struct_name, o, &[]))
        .build()
}

/// Free-form bodies (driver config, autoscaler policy): objects are blocks, arrays of objects
/// repeated blocks, and `[{label: [{...}]}]` — how Nomad stores labelled blocks — labelled blocks.
fn free_body(o: &Map<String, Value>) -> Vec<Structure> {
    let mut attrs = Vec::new();
    let mut blocks = Vec::new();
    for (k, v) in o {
        match v {
            Value::Object(inner) => blocks.push(
                Block::builder(ident(k))
                    .add_structures(free_body(inner))
                    .build()
                    .into(),
            ),
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                for item in items.iter().filter_map(Value::as_object) {
                    match labelled(item) {
                        Some((label, body)) => blocks.push(
                            Block::builder(ident(k))
                                .add_label(label.to_string())
                                .add_structures(free_body(body))
                                .build()
                                .into(),
                        ),
                        None => blocks.push(
                            Block::builder(ident(k))
                                .add_structures(free_body(item))
                                .build()
                                .into(),
                        ),
                    }
                }
            }
            _ => attrs.push(Attribute::new(ident(k), json_expr(v)).into()),
        }
    }
    attrs.extend(blocks);
    attrs
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

fn field_expr(ty: &FieldType, v: &Value) -> Expression {
    match (ty, v) {
        (FieldType::Duration, Value::Number(n)) => {
            Expression::String(format_duration(n.as_i64().unwrap_or(0)))
        }
        _ => json_expr(v),
    }
}

fn json_expr(v: &Value) -> Expression {
    match v {
        Value::Null => Expression::Null,
        Value::Bool(b) => Expression::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Expression::Number(i.into()),
            (None, Some(f)) => hcl::Number::from_f64(f)
                .map(Expression::Number)
                .unwrap_or(Expression::Null),
            _ => Expression::Null,
        },
        Value::String(s) => string_expr(s),
        Value::Array(items) => Expression::Array(items.iter().map(json_expr).collect()),
        Value::Object(o) => Expression::Object(
            o.iter()
                .map(|(k, v)| {
                    let key = if is_identifier(k) {
                        ObjectKey::Identifier(ident(k))
                    } else {
                        ObjectKey::Expression(string_expr(k))
                    };
                    (key, json_expr(v))
                })
                .collect(),
        ),
    }
}

/// A string literal. hcl-rs 0.20 escapes `${` and `%{` itself, but misses a marker right after
/// a `$` or `%` (`$${$${` came back as `$${${`, `$%{` as an interpolation), so a string holding
/// a marker is quoted here and written verbatim.
fn string_expr(s: &str) -> Expression {
    if !s.contains("${") && !s.contains("%{") {
        return Expression::String(s.to_string());
    }
    let mut quoted = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' | '%' if chars.peek() == Some(&'{') => {
                quoted.push(c);
                quoted.push(c);
            }
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if (c as u32) < 0x20 => quoted.push_str(&format!("\\u{:04X}", c as u32)),
            c => quoted.push(c),
        }
    }
    Expression::TemplateExpr(Box::new(hcl::TemplateExpr::QuotedString(quoted)))
}

fn ident(s: &str) -> Identifier {
    Identifier::sanitized(s)
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
/// does, so generated files read like hand-written ones.
fn align_equals(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let key_of = |line: &str| -> Option<(usize, usize)> {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        let eq = trimmed.find(" = ")?;
        let key = &trimmed[..eq];
        if key.contains(' ') && !key.starts_with('"') {
            return None;
        }
        let value = &trimmed[eq + 3..];
        // Multi-line values (objects, arrays, heredocs) end the run.
        if value.ends_with('{') || value.ends_with('[') || value.starts_with("<<") {
            return None;
        }
        Some((indent, key.chars().count()))
    };
    let mut out = String::with_capacity(text.len() + 64);
    let mut i = 0;
    while i < lines.len() {
        let Some((indent, _)) = key_of(lines[i]) else {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
            continue;
        };
        let mut j = i;
        let mut width = 0;
        while j < lines.len() {
            match key_of(lines[j]) {
                Some((ind, w)) if ind == indent => {
                    width = width.max(w);
                    j += 1;
                }
                _ => break,
            }
        }
        for line in &lines[i..j] {
            let trimmed = line.trim_start();
            if let Some(eq) = trimmed.find(" = ") {
                let key = &trimmed[..eq];
                let pad = width - key.chars().count();
                out.push_str(&" ".repeat(indent));
                out.push_str(key);
                out.push_str(&" ".repeat(pad));
                out.push_str(&trimmed[eq..]);
                out.push('\n');
            }
        }
        i = j;
    }
    out
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
        let out = align_equals("a {\n  x = 1\n  long = 2\n\n  y = 3\n}\n");
        assert_eq!(out, "a {\n  x    = 1\n  long = 2\n\n  y = 3\n}\n");
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
