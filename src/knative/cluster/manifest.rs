//! One Service, its ConfigMaps and its Secrets' shapes as one YAML stream, with every mapping's
//! keys sorted so that the same cluster state always gives the same bytes.

use super::error::ImportError;
use serde_json::Value;
use std::collections::BTreeMap;

/// Sorts every mapping by key (serde_json keeps insertion order in this crate), so the same
/// cluster state always gives the same bytes.
fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> = map.into_iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(key, value)| (key, sort_keys(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// The Service, then its ConfigMaps, then its Secrets (key names only), as a YAML stream.
pub(super) fn render_manifest(
    namespace: &str,
    name: &str,
    service: Value,
    config_maps: Vec<Value>,
    secrets: Vec<Value>,
) -> Result<String, ImportError> {
    let render = |kind: &'static str, value: Value| {
        let object_name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string();
        serde_yaml::to_string(&sort_keys(value)).map_err(|source| ImportError::Render {
            kind,
            namespace: namespace.to_string(),
            name: object_name,
            source,
        })
    };
    let mut documents = vec![render("Service", service)?];
    for config_map in config_maps {
        documents.push(render("ConfigMap", config_map)?);
    }
    for secret in secrets {
        documents.push(format!(
            "# Secret values are never exported: only the key names, with empty values.\n{}",
            render("Secret", secret)?
        ));
    }
    Ok(documents.join("---\n"))
}
