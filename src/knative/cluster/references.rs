//! The ConfigMaps and Secrets a Service refers to: finding the names, and reading them once
//! each — ConfigMaps whole, Secrets as their shape (type and key names) only.

use super::clean::clean_config_map;
use super::error::{ApiAction, ClusterOrigin, ImportError, classify};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::Api;
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};

/// Names of the ConfigMaps and Secrets one Service's pod template refers to.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct References {
    pub config_maps: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
}

/// Walks env `configMapKeyRef`/`secretKeyRef`, `envFrom`, configMap/secret volumes and projected
/// sources of every container and init container. (imagePullSecrets are registry credentials the
/// Nomad docker driver takes elsewhere, so they are not read.)
pub(super) fn collect_references(service: &Value) -> References {
    let mut references = References::default();
    let Some(pod_spec) = service.pointer("/spec/template/spec") else {
        return references;
    };
    let add = |set: &mut BTreeSet<String>, name: Option<&Value>| {
        if let Some(name) = name.and_then(Value::as_str).filter(|name| !name.is_empty()) {
            set.insert(name.to_string());
        }
    };
    for list in ["containers", "initContainers"] {
        for container in array(pod_spec.get(list)) {
            for env in array(container.get("env")) {
                add(
                    &mut references.config_maps,
                    env.pointer("/valueFrom/configMapKeyRef/name"),
                );
                add(
                    &mut references.secrets,
                    env.pointer("/valueFrom/secretKeyRef/name"),
                );
            }
            for source in array(container.get("envFrom")) {
                add(
                    &mut references.config_maps,
                    source.pointer("/configMapRef/name"),
                );
                add(&mut references.secrets, source.pointer("/secretRef/name"));
            }
        }
    }
    for volume in array(pod_spec.get("volumes")) {
        add(
            &mut references.config_maps,
            volume.pointer("/configMap/name"),
        );
        add(
            &mut references.secrets,
            volume.pointer("/secret/secretName"),
        );
        for source in array(volume.pointer("/projected/sources")) {
            add(
                &mut references.config_maps,
                source.pointer("/configMap/name"),
            );
            add(&mut references.secrets, source.pointer("/secret/name"));
        }
    }
    references
}

fn array(value: Option<&Value>) -> &[Value] {
    value
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// What of a Secret is kept: its type and key names. Never its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SecretShape {
    secret_type: Option<String>,
    keys: BTreeSet<String>,
}

impl SecretShape {
    /// A `v1 Secret` whose every key maps to the empty string, so the converter knows which keys
    /// exist (for Nomad Variable templates) while no value exists in the output.
    pub fn to_manifest(&self, namespace: &str, name: &str) -> Value {
        let data: Map<String, Value> = self
            .keys
            .iter()
            .map(|key| (key.clone(), Value::String(String::new())))
            .collect();
        let mut secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": name, "namespace": namespace },
            "data": data,
        });
        if let (Some(secret_type), Some(object)) = (&self.secret_type, secret.as_object_mut()) {
            object.insert("type".to_string(), Value::String(secret_type.clone()));
        }
        secret
    }
}

/// Reads referenced objects once per namespace and name, however many Services share them. A
/// missing object is `None`: the converter reports a reference to something not in its inputs.
pub(super) struct ReferenceReader {
    client: Client,
    origin: ClusterOrigin,
    config_maps: HashMap<(String, String), Option<Value>>,
    secret_shapes: HashMap<(String, String), Option<SecretShape>>,
}

impl ReferenceReader {
    pub fn new(client: Client, origin: ClusterOrigin) -> Self {
        ReferenceReader {
            client,
            origin,
            config_maps: HashMap::new(),
            secret_shapes: HashMap::new(),
        }
    }

    pub async fn config_map(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, ImportError> {
        let key = (namespace.to_string(), name.to_string());
        if let Some(cached) = self.config_maps.get(&key) {
            return Ok(cached.clone());
        }
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let action = ApiAction {
            verb: "get",
            resource: "configmaps",
            namespace: Some(namespace.to_string()),
        };
        let found = api
            .get_opt(name)
            .await
            .map_err(|error| classify(error, &action, &self.origin, Some(name)))?;
        let cleaned = match found {
            Some(config_map) => {
                let value = serde_json::to_value(&config_map).map_err(|source| {
                    ImportError::response(&self.origin, &action, &kube::Error::SerdeError(source))
                })?;
                Some(clean_config_map(value))
            }
            None => None,
        };
        self.config_maps.insert(key, cleaned.clone());
        Ok(cleaned)
    }

    pub async fn secret_shape(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<SecretShape>, ImportError> {
        let key = (namespace.to_string(), name.to_string());
        if let Some(cached) = self.secret_shapes.get(&key) {
            return Ok(cached.clone());
        }
        let shape = read_secret_shape(&self.client, &self.origin, namespace, name).await?;
        self.secret_shapes.insert(key, shape.clone());
        Ok(shape)
    }
}

/// The only place a Secret is held: its key names and type are copied out and the object (values
/// included) is dropped before this returns. Errors carry the API's message, which never
/// contains values.
async fn read_secret_shape(
    client: &Client,
    origin: &ClusterOrigin,
    namespace: &str,
    name: &str,
) -> Result<Option<SecretShape>, ImportError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let action = ApiAction {
        verb: "get",
        resource: "secrets",
        namespace: Some(namespace.to_string()),
    };
    let secret = api.get_opt(name).await.map_err(|error| match error {
        // serde_json quotes what it could not read (`invalid type: string "…"`): here that is
        // the Secret's content, which must not reach a message (docs/security.md).
        kube::Error::SerdeError(_) => ImportError::Api {
            origin: Box::new(origin.clone()),
            action: action.clone(),
            code: 200,
            message: "the answer is not a readable Secret (the parser's message is withheld: it would quote the Secret)".to_string(),
        },
        error => classify(error, &action, origin, Some(name)),
    })?;
    Ok(secret.map(|secret| {
        let mut keys: BTreeSet<String> = BTreeSet::new();
        if let Some(data) = &secret.data {
            keys.extend(data.keys().cloned());
        }
        if let Some(string_data) = &secret.string_data {
            keys.extend(string_data.keys().cloned());
        }
        SecretShape {
            secret_type: secret.type_.clone(),
            keys,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_in_env_envfrom_volumes_and_projections() {
        let service = json!({"spec": {"template": {"spec": {
            "containers": [{
                "env": [
                    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm-a", "key": "a"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s-b", "key": "b"}}}
                ],
                "envFrom": [{"configMapRef": {"name": "cm-c"}}, {"secretRef": {"name": "s-d"}}]
            }],
            "initContainers": [{"envFrom": [{"secretRef": {"name": "s-init"}}]}],
            "volumes": [
                {"name": "v1", "configMap": {"name": "cm-e"}},
                {"name": "v2", "secret": {"secretName": "s-f"}},
                {"name": "v3", "projected": {"sources": [
                    {"configMap": {"name": "cm-g"}}, {"secret": {"name": "s-h"}}
                ]}}
            ]
        }}}});
        let references = collect_references(&service);
        assert_eq!(
            references.config_maps.into_iter().collect::<Vec<_>>(),
            ["cm-a", "cm-c", "cm-e", "cm-g"]
        );
        assert_eq!(
            references.secrets.into_iter().collect::<Vec<_>>(),
            ["s-b", "s-d", "s-f", "s-h", "s-init"]
        );
    }
}
