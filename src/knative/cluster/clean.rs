//! Removing what the cluster added to the objects it returns, keeping everything that changes
//! behaviour: the same list of fields `kn service export` drops.

use super::{SERVING_GROUP, SERVING_VERSION};
use crate::knative::model::SERVER_ANNOTATIONS;
use serde_json::{Map, Value, json};

/// `metadata` fields that the API server owns. Re-applying them is meaningless or rejected.
const STRIPPED_METADATA: [&str; 11] = [
    "managedFields",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "selfLink",
    "ownerReferences",
    "finalizers",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generateName",
];

/// Removes what the cluster added to a Knative Service, keeping everything that changes
/// behaviour. Public so that a `kubectl get ksvc -o yaml` dump can be cleaned the same way.
pub fn clean_service(mut service: Value) -> Value {
    let Some(object) = service.as_object_mut() else {
        return service;
    };
    object.remove("status");
    // List items may come without their type; the output must be a standalone document.
    object.insert(
        "apiVersion".to_string(),
        Value::String(format!("{SERVING_GROUP}/{SERVING_VERSION}")),
    );
    object.insert("kind".to_string(), Value::String("Service".to_string()));
    if let Some(metadata) = object.get_mut("metadata") {
        clean_metadata(metadata);
    }
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        drop_default_traffic(spec);
        if let Some(template) = spec.get_mut("template").and_then(Value::as_object_mut) {
            if let Some(template_metadata) = template.get_mut("metadata") {
                clean_template_metadata(template_metadata);
            }
            if template
                .get("metadata")
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
            {
                template.remove("metadata");
            }
            if let Some(pod_spec) = template.get_mut("spec").and_then(Value::as_object_mut) {
                clean_revision_spec(pod_spec);
            }
        }
    }
    service
}

/// ConfigMaps keep their data (it is configuration, not secret) and lose server metadata.
pub(super) fn clean_config_map(mut config_map: Value) -> Value {
    let Some(object) = config_map.as_object_mut() else {
        return config_map;
    };
    object.retain(|key, _| {
        matches!(
            key.as_str(),
            "metadata" | "data" | "binaryData" | "immutable"
        )
    });
    object.insert("apiVersion".to_string(), Value::String("v1".to_string()));
    object.insert("kind".to_string(), Value::String("ConfigMap".to_string()));
    if let Some(metadata) = object.get_mut("metadata") {
        clean_metadata(metadata);
    }
    config_map
}

fn clean_metadata(metadata: &mut Value) {
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    for field in STRIPPED_METADATA {
        metadata.remove(field);
    }
    if let Some(annotations) = metadata
        .get_mut("annotations")
        .and_then(Value::as_object_mut)
    {
        for annotation in SERVER_ANNOTATIONS {
            annotations.remove(annotation);
        }
    }
    remove_if_empty(metadata, "annotations");
    remove_if_empty(metadata, "labels");
}

/// The template's metadata comes back with `creationTimestamp: null`; everything else in it
/// (name, labels, annotations) is the user's and drives autoscaling.
fn clean_template_metadata(metadata: &mut Value) {
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    metadata.remove("creationTimestamp");
    remove_if_empty(metadata, "annotations");
    remove_if_empty(metadata, "labels");
}

/// `traffic: [{latestRevision: true, percent: 100}]` is exactly what Knative defaults an absent
/// traffic block to, so dropping it changes nothing. Any other traffic (tags, pinned revisions,
/// splits) is kept.
fn drop_default_traffic(spec: &mut Map<String, Value>) {
    let is_default = spec
        .get("traffic")
        .and_then(Value::as_array)
        .is_some_and(|targets| match targets.as_slice() {
            [] => true,
            [only] => *only == json!({ "latestRevision": true, "percent": 100 }),
            _ => false,
        });
    if is_default {
        spec.remove("traffic");
    }
}

/// Drops webhook defaults that are identical in meaning to their absence in every Knative
/// installation: `enableServiceLinks: false`, empty `resources`, and the defaulted readiness
/// probe `{successThreshold: 1, tcpSocket: {port: 0}}` (a TCP probe on the user port, which is
/// what no probe means). `containerConcurrency` and `timeoutSeconds` stay: their defaults come
/// from the cluster's config-defaults and may differ elsewhere.
fn clean_revision_spec(pod_spec: &mut Map<String, Value>) {
    if pod_spec.get("enableServiceLinks") == Some(&Value::Bool(false)) {
        pod_spec.remove("enableServiceLinks");
    }
    let defaulted_probe = json!({ "successThreshold": 1, "tcpSocket": { "port": 0 } });
    for list in ["containers", "initContainers"] {
        let Some(containers) = pod_spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers.iter_mut().filter_map(Value::as_object_mut) {
            remove_if_empty(container, "resources");
            if container.get("readinessProbe") == Some(&defaulted_probe) {
                container.remove("readinessProbe");
            }
        }
    }
}

fn remove_if_empty(object: &mut Map<String, Value>, key: &str) {
    let empty = match object.get(key) {
        Some(Value::Object(map)) => map.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    if empty {
        object.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_traffic_is_dropped_and_splits_are_kept() {
        let mut spec = json!({"traffic": [{"latestRevision": true, "percent": 100}]});
        let map = spec.as_object_mut().unwrap();
        drop_default_traffic(map);
        assert!(!map.contains_key("traffic"));

        let mut split = json!({"traffic": [
            {"latestRevision": true, "percent": 100, "tag": "current"}
        ]});
        let map = split.as_object_mut().unwrap();
        drop_default_traffic(map);
        assert!(map.contains_key("traffic"));
    }
}
