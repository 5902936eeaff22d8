//! Parsing the plain HCL2 job files this tool writes back into Nomad API JSON: blocks,
//! attributes, literals and string templates. Variables, locals and functions are refused with a
//! hint to use `nomad job run -output`.

use super::coerce::coerce;
use crate::nomad::schema::{FieldType, schema};
use hcl::expr::{Expression, ObjectKey, TraversalOperator};
use hcl::{Block, BlockLabel, Body, Structure};
use serde_json::{Map, Value};

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
    let mut job = Value::Object(obj);
    super::jobspec::from_blocks(&mut job);
    Ok(job)
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
                if field.block && !map_attribute_allowed(struct_name, &field.name) {
                    return Err(format!(
                        "{path}: `{key}` is a block, not an attribute: write `{key} {{ ... }}`"
                    ));
                }
                if obj.contains_key(&field.name) {
                    return Err(format!("{path}: `{key}` is defined more than once"));
                }
                let value = expr_value(a.expr(), &format!("{path}.{key}"))?;
                if let Some(value) = coerce(field, value, &format!("{path}.{key}"))? {
                    obj.insert(field.name.clone(), value);
                }
            }
            Structure::Block(b) => {
                let ident = b.identifier();
                let field = s
                    .field_by_hcl(struct_name, ident)
                    .ok_or_else(|| format!("{path}: unknown block `{ident}`"))?;
                let child_path = format!("{path}.{ident}");
                if !field.block {
                    return Err(format!(
                        "{child_path}: `{ident}` is an attribute, not a block: write `{ident} = ...`"
                    ));
                }
                let repeats = match &field.ty {
                    FieldType::List(_) => true,
                    FieldType::Map(inner) => matches!(inner.as_ref(), FieldType::Struct(_)),
                    _ => false,
                };
                if !repeats && obj.contains_key(&field.name) {
                    // Nomad's decoder: "Duplicate <name> block".
                    return Err(format!("{child_path}: duplicate `{ident}` block"));
                }
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
                            expect_labels(b, 0, &child_path)?;
                            if let Some(block) = b.body().blocks().next() {
                                return Err(format!(
                                    "{child_path}: unexpected block `{}`",
                                    block.identifier()
                                ));
                            }
                            let mut entries = Map::new();
                            for a in b.body().attributes() {
                                entries.insert(
                                    a.key().to_string(),
                                    expr_value(a.expr(), &child_path)?,
                                );
                            }
                            if let Some(Value::Object(entries)) =
                                coerce(field, Value::Object(entries), &child_path)?
                            {
                                map.extend(entries);
                            }
                        }
                    }
                    FieldType::Any => {
                        expect_labels(b, 0, &child_path)?;
                        obj.insert(
                            field.name.clone(),
                            Value::Object(free_parse(b.body(), &child_path)?),
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

/// A struct block: its label (the struct's label field, or a map key) and its body.
fn parse_labelled(struct_name: &str, b: &Block, path: &str) -> Result<Map<String, Value>, String> {
    let label_field = schema().fields(struct_name).iter().find(|f| f.label);
    expect_labels(b, usize::from(label_field.is_some()), path)?;
    let mut v = parse_struct(struct_name, b.body(), path)?;
    if let Some(label_field) = label_field
        && let Some(l) = b.labels().first()
    {
        v.insert(label_field.name.clone(), Value::String(label_str(l)));
    }
    Ok(v)
}

/// Nomad's decoder refuses a block with more or fewer labels than its type takes ("Extraneous
/// label for resources", "Missing name for group").
fn expect_labels(b: &Block, wanted: usize, path: &str) -> Result<(), String> {
    let found = b.labels().len();
    match found.cmp(&wanted) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(format!(
            "{path}: `{}` takes {wanted} label(s), found {found}",
            b.identifier()
        )),
        std::cmp::Ordering::Less => Err(format!("{path}: `{}` needs a label", b.identifier())),
    }
}

/// Maps that Nomad's jobspec2 also reads written as an attribute (`env = { "A.B" = "c" }`):
/// hcl_conversions.go `decodeTask` (env, meta), `decodeTaskGroup` (meta), and the job's meta
/// (checked with jobspec2json). Elsewhere (a service's `meta`) the attribute form is an error.
fn map_attribute_allowed(struct_name: &str, field: &str) -> bool {
    matches!(
        (struct_name, field),
        ("Job", "Meta") | ("TaskGroup", "Meta") | ("Task", "Env") | ("Task", "Meta")
    )
}

/// A free-form block (a driver's `config`, an autoscaler policy), decoded as Nomad's jobspec2
/// decodes a `map[string]interface{}` body (HCL1's rules, kept by Nomad's HCL fork): every nested
/// block is one item of a list under its name, a labelled block `name "l" { .. }` is the item
/// `{"l": [{..}]}`, and an object-valued attribute is a list of that one object. Attributes set
/// to `null` are dropped. Checked against `jobspec2json` by the oracle test
/// (tests/integration/nomad_oracle.rs), e.g. `tmpfs_options { size = 1 }` → `[{"size": 1}]`.
fn free_parse(body: &Body, path: &str) -> Result<Map<String, Value>, String> {
    let mut obj = Map::new();
    for a in body.attributes() {
        let value = match expr_value(a.expr(), path)? {
            Value::Null => continue,
            Value::Object(inner) => Value::Array(vec![Value::Object(inner)]),
            other => other,
        };
        obj.insert(a.key().to_string(), value);
    }
    for b in body.blocks() {
        let mut item = Value::Object(free_parse(b.body(), path)?);
        for label in b.labels().iter().rev() {
            item = serde_json::json!({ label_str(label): [item] });
        }
        let entry = obj
            .entry(b.identifier().to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        match entry {
            Value::Array(items) => items.push(item),
            _ => {
                return Err(format!(
                    "{path}: `{}` is both an attribute and a block",
                    b.identifier()
                ));
            }
        }
    }
    Ok(obj)
}

pub(super) fn expr_value(e: &Expression, path: &str) -> Result<Value, String> {
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
                    hcl::template::Element::Interpolation(i) if is_runtime_reference(&i.expr) => {
                        only_literals = false
                    }
                    _ => {
                        return Err(format!(
                            "{path}: this string computes its value (a function, an operator, a variable or a %{{ }} directive), which only Nomad can evaluate; use `nomad job run -output FILE` to get the job's JSON and validate that"
                        ));
                    }
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

/// An interpolation Nomad keeps as text for the client to fill in at run time, such as
/// `${NOMAD_PORT_http}`, `${attr.kernel.name}` or `${meta.x[0]}`: a reference whose root is not
/// one jobspec2 defines (`var`, `local`; those it evaluates, and refuses when undefined).
/// Checked with jobspec2json in the oracle test's table.
fn is_runtime_reference(e: &Expression) -> bool {
    let root_is_free = |v: &hcl::expr::Variable| !matches!(v.as_str(), "var" | "local");
    match e {
        Expression::Variable(v) => root_is_free(v),
        Expression::Traversal(t) => {
            matches!(&t.expr, Expression::Variable(v) if root_is_free(v))
                && t.operators.iter().all(|op| match op {
                    TraversalOperator::GetAttr(_) | TraversalOperator::LegacyIndex(_) => true,
                    TraversalOperator::Index(i) => {
                        matches!(i, Expression::Number(_) | Expression::String(_))
                    }
                    _ => false,
                })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nomad::hcl::render_job;
    use crate::nomad::model::Job;

    #[test]
    fn rejects_variables() {
        let err = parse_job("variable \"x\" {}\njob \"a\" {}\n").unwrap_err();
        assert!(err.contains("nomad job run -output"));
        let err = parse_job("job \"a\" {\n  datacenters = [var.dc]\n}\n").unwrap_err();
        assert!(err.contains("nomad job run -output"));
    }

    /// Free-form config decodes as Nomad's jobspec2 decodes it (the output of `jobspec2json` on
    /// the same text): blocks and object attributes become lists, labels nest, nulls vanish.
    #[test]
    fn config_blocks_decode_as_nomad_does() {
        let job = parse_job(
            "job \"a\" {\n group \"g\" {\n  task \"t\" {\n   driver = \"docker\"\n   config {\n    image = \"x\"\n    n = null\n    labels = { a = \"b\" }\n    mount {\n     type = \"tmpfs\"\n     tmpfs_options {\n      size = 10\n     }\n    }\n    two \"l1\" \"l2\" {\n     y = 1\n    }\n   }\n  }\n }\n}\n",
        )
        .unwrap();
        assert_eq!(
            job["TaskGroups"][0]["Tasks"][0]["Config"],
            serde_json::json!({
                "image": "x",
                "labels": [{"a": "b"}],
                "mount": [{"type": "tmpfs", "tmpfs_options": [{"size": 10}]}],
                "two": [{"l1": [{"l2": [{"y": 1}]}]}],
            })
        );
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
}
