//! The strict key check: every key of a job's API JSON must be a field of Nomad's API structs
//! (or a docker driver option), because Nomad silently drops the keys it does not know.

use crate::nomad::schema::{FieldType, schema};
use serde_json::Value;

/// Keys in a job's API JSON that are not fields of Nomad's API structs (or docker options).
pub fn unknown_keys(job: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_struct("Job", job, "Job", &mut out);
    out
}

fn walk_struct(struct_name: &str, value: &Value, path: &str, out: &mut Vec<String>) {
    let Some(obj) = value.as_object() else {
        if !value.is_null() {
            out.push(format!("{path}: expected an object"));
        }
        return;
    };
    let s = schema();
    let driver = obj.get("Driver").and_then(Value::as_str).unwrap_or("");
    for (key, v) in obj {
        let Some(field) = s.field(struct_name, key) else {
            out.push(format!(
                "{path}.{key}: unknown field (not in Nomad's api.{struct_name})"
            ));
            continue;
        };
        let child = format!("{path}.{key}");
        if struct_name == "Task" && key == "Config" && driver == "docker" {
            walk_docker(&s.docker, v, &child, out);
            continue;
        }
        walk_type(&field.ty, v, &child, out);
    }
}

fn walk_type(ty: &FieldType, v: &Value, path: &str, out: &mut Vec<String>) {
    match ty {
        FieldType::Struct(name) => walk_struct(name, v, path, out),
        FieldType::List(inner) => {
            if let Some(items) = v.as_array() {
                for (i, item) in items.iter().enumerate() {
                    walk_type(inner, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        FieldType::Map(inner) => {
            if let Some(obj) = v.as_object() {
                for (k, item) in obj {
                    walk_type(inner, item, &format!("{path}[{k:?}]"), out);
                }
            }
        }
        FieldType::Scalar | FieldType::Duration | FieldType::Any => {}
    }
}

fn walk_docker(
    spec: &serde_json::Map<String, Value>,
    v: &Value,
    path: &str,
    out: &mut Vec<String>,
) {
    let Some(obj) = v.as_object() else { return };
    for (key, value) in obj {
        match spec.get(key) {
            None => out.push(format!("{path}.{key}: not an option of the docker driver")),
            Some(Value::Object(nested)) => match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk_docker(nested, item, &format!("{path}.{key}[{i}]"), out);
                    }
                }
                other => walk_docker(nested, other, &format!("{path}.{key}"), out),
            },
            Some(Value::String(desc)) => {
                if let Some(keys) = list_of_keys(desc) {
                    let nested: serde_json::Map<String, Value> =
                        keys.into_iter().map(|k| (k, Value::Null)).collect();
                    for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                        walk_docker(&nested, item, &format!("{path}.{key}[{i}]"), out);
                    }
                }
            }
            Some(_) => {}
        }
    }
}

/// Keys of a `list of {a: t, b: {..}, ...}` description in the docker option list.
pub fn list_of_keys(desc: &str) -> Option<Vec<String>> {
    let inner = desc.strip_prefix("list of {")?;
    let mut keys = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in inner.char_indices() {
        match c {
            '{' | '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '}' if depth == 0 => {
                if let Some(k) = inner[start..i].split(':').next() {
                    keys.push(k.trim().to_string());
                }
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                if let Some(k) = inner[start..i].split(':').next() {
                    keys.push(k.trim().to_string());
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    Some(keys.into_iter().filter(|k| !k.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_unknown_keys() {
        let job = json!({"ID": "x", "Ephemeral": {"Timeout": 1}, "TaskGroups": [{"Name": "g", "Tasks": [
            {"Name": "t", "Driver": "docker", "Config": {"image": "x", "imagee": "y", "mount": [{"type": "bind", "targett": "/x"}]}}
        ]}]});
        let errs = unknown_keys(&job);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].contains("Job.Ephemeral"));
        assert!(errs.iter().any(|e| e.contains("imagee")));
        assert!(errs.iter().any(|e| e.contains("targett")));
    }
}
