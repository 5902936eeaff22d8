//! Nomad's API field list (data/nomad-api-fields.json, copied from Nomad 2.0.6) as a lookup
//! table. The HCL renderer and parser take block names, labels and duration fields from it, and
//! the validator rejects any key not in it: Nomad itself silently drops unknown keys.

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Debug, Deserialize)]
struct RawField {
    go_type: String,
    #[serde(default)]
    pointer: bool,
    hcl: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawStruct {
    fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct RawSchema {
    structs: HashMap<String, RawStruct>,
    driver_config: serde_json::Map<String, serde_json::Value>,
}

/// What a field holds, as far as rendering and validation care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Scalar,
    Duration,
    Struct(String),
    List(Box<FieldType>),
    /// map[string]T
    Map(Box<FieldType>),
    /// map[string]any: free-form (driver config, autoscaler policy).
    Any,
}

#[derive(Debug, Clone)]
pub struct Field {
    /// JSON (API) name, PascalCase.
    pub name: String,
    pub ty: FieldType,
    /// HCL name; None for fields the HCL job spec does not have (server-owned).
    pub hcl_name: Option<String>,
    /// Rendered as a block (`name { ... }`) rather than an attribute.
    pub block: bool,
    /// The field is the block's label.
    pub label: bool,
    /// The Go type, e.g. `*int`, `[]string`, `map[string]string`: how Nomad's HCL decoder
    /// converts a value given to it (a number to a string field becomes its text).
    pub go_type: String,
    /// A Go pointer: nil and a zero value are different values. A field that is not one cannot
    /// tell "unset" from `""`, `0` or `false`, and neither can Nomad.
    pub pointer: bool,
}

#[derive(Debug)]
pub struct Schema {
    pub structs: HashMap<String, Vec<Field>>,
    /// Docker driver config keys; values describe the type (objects for nested blocks).
    pub docker: serde_json::Map<String, serde_json::Value>,
}

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let raw: RawSchema =
        match serde_json::from_str(include_str!("../../data/nomad-api-fields.json")) {
            Ok(raw) => raw,
            // The file is part of the binary and tested; an empty schema would make every key
            // unknown, which the tests catch immediately.
            Err(_) => RawSchema {
                structs: HashMap::new(),
                driver_config: serde_json::Map::new(),
            },
        };
    let mut structs = HashMap::new();
    for (name, s) in &raw.structs {
        let mut fields = Vec::new();
        for (fname, value) in &s.fields {
            let Ok(f) = serde_json::from_value::<RawField>(value.clone()) else {
                continue;
            };
            let (hcl_name, block, label) = match f.hcl.as_deref() {
                None => (None, false, false),
                Some(tag) => {
                    let mut parts = tag.split(',');
                    let n = parts.next().unwrap_or("").to_string();
                    let kind = parts.next().unwrap_or("");
                    (
                        if n.is_empty() && kind != "label" {
                            None
                        } else {
                            Some(n)
                        },
                        kind == "block",
                        kind == "label",
                    )
                }
            };
            fields.push(Field {
                name: fname.clone(),
                ty: parse_type(&f.go_type, &raw.structs),
                hcl_name,
                block,
                label,
                go_type: f.go_type.clone(),
                pointer: f.pointer,
            });
        }
        structs.insert(name.clone(), fields);
    }
    let docker = raw
        .driver_config
        .get("docker")
        .and_then(|d| d.as_object())
        .cloned()
        .unwrap_or_default();
    Schema { structs, docker }
});

fn parse_type(go: &str, structs: &HashMap<String, RawStruct>) -> FieldType {
    let go = go.trim_start_matches('*');
    if let Some(inner) = go.strip_prefix("[]") {
        if inner == "byte" {
            return FieldType::Scalar;
        }
        return FieldType::List(Box::new(parse_type(inner, structs)));
    }
    if let Some(inner) = go.strip_prefix("map[string]") {
        let inner = inner.trim_start_matches('*');
        if inner == "any" || inner == "interface{}" {
            return FieldType::Any;
        }
        return FieldType::Map(Box::new(parse_type(inner, structs)));
    }
    if go == "time.Duration" {
        return FieldType::Duration;
    }
    if go == "any" {
        return FieldType::Any;
    }
    if structs.contains_key(go) {
        return FieldType::Struct(go.to_string());
    }
    FieldType::Scalar
}

pub fn schema() -> &'static Schema {
    &SCHEMA
}

impl Schema {
    pub fn fields(&self, name: &str) -> &[Field] {
        self.structs.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn field(&self, name: &str, json_name: &str) -> Option<&Field> {
        self.fields(name).iter().find(|f| f.name == json_name)
    }

    pub fn field_by_hcl(&self, name: &str, hcl: &str) -> Option<&Field> {
        self.fields(name)
            .iter()
            .find(|f| f.hcl_name.as_deref() == Some(hcl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_loads() {
        let s = schema();
        assert!(s.structs.len() > 60);
        let port = s.field("Port", "Label").unwrap();
        assert!(port.label);
        let dp = s.field("NetworkResource", "DynamicPorts").unwrap();
        assert_eq!(dp.hcl_name.as_deref(), Some("port"));
        assert!(dp.block);
        assert_eq!(
            s.field("Task", "KillTimeout").unwrap().ty,
            FieldType::Duration
        );
        assert!(s.docker.contains_key("image"));
    }
}
