//! A job's API JSON read as Nomad's HTTP agent reads it (Go's `encoding/json` into `api.Job`):
//! `null` is an unset field, and a field that is not a Go pointer cannot tell `""`, `0` or
//! `false` from unset, so neither can Nomad's rules. Nomad's own tools write both forms
//! (`jobspec2json`, `nomad job run -output` and `nomad job inspect` print `null` for unset lists
//! and `""` for unset plain strings), so the typed model sees those fields as absent.
//!
//! Not here: defaults Nomad fills in (that is `canonical`), and free-form maps (driver config),
//! which Nomad passes on as written.

use crate::nomad::schema::{FieldType, schema};
use serde_json::Value;

/// Removes what Go would decode as unset: nulls, and zero values of non-pointer scalar fields.
pub fn as_nomad_reads(value: &mut Value) {
    walk_struct("Job", value);
}

fn walk_struct(struct_name: &str, value: &mut Value) {
    let Some(obj) = value.as_object_mut() else {
        return;
    };
    let s = schema();
    obj.retain(|key, v| {
        let Some(field) = s.field(struct_name, key) else {
            return true; // the strict key check reports it
        };
        if v.is_null() {
            return false;
        }
        let scalar = matches!(field.ty, FieldType::Scalar | FieldType::Duration);
        !(scalar && !field.pointer && is_go_zero(v))
    });
    for (key, v) in obj.iter_mut() {
        if let Some(field) = s.field(struct_name, key) {
            walk_type(&field.ty, v);
        }
    }
}

fn walk_type(ty: &FieldType, v: &mut Value) {
    match ty {
        FieldType::Struct(name) => walk_struct(name, v),
        FieldType::List(inner) => {
            for item in v.as_array_mut().into_iter().flatten() {
                walk_type(inner, item);
            }
        }
        FieldType::Map(inner) => {
            for item in v.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
                walk_type(inner, item);
            }
        }
        FieldType::Scalar | FieldType::Duration | FieldType::Any => {}
    }
}

fn is_go_zero(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_and_plain_zero_values_are_unset() {
        let mut job = json!({"ID": "a", "Constraints": null, "Priority": 0,
            "TaskGroups": [{"Name": "g", "Count": 0, "Services": [{"Name": "s",
                "PortLabel": "", "Checks": [{"TaskName": "", "Interval": 0}]}],
                "Tasks": [{"Name": "t", "Leader": false, "Config": {"x": null, "y": ""},
                    "Templates": [{"EmbeddedTmpl": ""}]}]}]});
        as_nomad_reads(&mut job);
        assert_eq!(
            job,
            json!({"ID": "a", "Priority": 0,
            "TaskGroups": [{"Name": "g", "Count": 0, "Services": [{"Name": "s", "Checks": [{}]}],
                "Tasks": [{"Name": "t", "Config": {"x": null, "y": ""},
                    "Templates": [{"EmbeddedTmpl": ""}]}]}]})
        );
    }
}
