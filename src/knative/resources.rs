//! The ConfigMaps and Secrets of a batch's inputs, which Services' env and volumes refer to:
//! ConfigMap data as it is, Secrets as their key names only.
//!
//! Resolution today: one table for the whole batch, keyed by (namespace, name); when two inputs
//! define the same object, the one read later replaces the other. (The nearest-definition rule
//! of the design, with an error for two definitions at the same distance, is not implemented.)

use super::load::{Document, DocumentKind};
use std::collections::BTreeMap;

/// ConfigMaps and Secrets seen in the inputs, by (namespace, name). Secret values are never
/// kept: only their key names, so nothing downstream can leak them.
#[derive(Debug, Default, Clone)]
pub struct Resources {
    pub config_maps: BTreeMap<(String, String), BTreeMap<String, String>>,
    pub secret_keys: BTreeMap<(String, String), Vec<String>>,
}

impl Resources {
    pub fn add(&mut self, doc: &Document, kind: DocumentKind) {
        let Some(name) = doc.name() else { return };
        let namespace = doc.namespace().unwrap_or("default").to_string();
        let key = (namespace, name.to_string());
        match kind {
            DocumentKind::ConfigMap => {
                let mut data = BTreeMap::new();
                if let Some(map) = doc.value.get("data").and_then(|d| d.as_mapping()) {
                    for (k, v) in map {
                        if let (Some(k), Some(v)) = (k.as_str(), scalar_string(v)) {
                            data.insert(k.to_string(), v);
                        }
                    }
                }
                self.config_maps.insert(key, data);
            }
            DocumentKind::Secret => {
                let mut keys = Vec::new();
                for field in ["data", "stringData"] {
                    if let Some(map) = doc.value.get(field).and_then(|d| d.as_mapping()) {
                        keys.extend(map.keys().filter_map(|k| k.as_str().map(str::to_string)));
                    }
                }
                keys.sort();
                keys.dedup();
                self.secret_keys.insert(key, keys);
            }
            _ => {}
        }
    }
}

fn scalar_string(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
