//! What to read (namespace scope, selector, names) and reading it: list page by page or get by
//! name, then each Service's references, cleaned and rendered as one YAML manifest.

use super::connect::ClusterConnection;
use super::error::{ApiAction, ClusterOrigin, ImportError, classify};
use super::references::{ReferenceReader, collect_references};
use super::{DEFAULT_PAGE_SIZE, SERVICES_RESOURCE, SERVING_GROUP, SERVING_VERSION};
use super::{clean::clean_service, manifest::render_manifest};
use kube::Client;
use kube::api::{Api, ListParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

/// Which Services to read, as kubectl's `-n`, `-A` and `-l` say it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSelection {
    /// `-n`: this namespace (default: the namespace of the kubeconfig context).
    pub namespace: Option<String>,
    /// `-A`: every namespace.
    pub all_namespaces: bool,
    /// `-l`: a label selector, passed to the API server as it is.
    pub selector: Option<String>,
}

/// Which namespaces to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceScope {
    /// `-A`: every namespace.
    All,
    /// One namespace.
    Namespace(String),
}

/// What to read: resolved from an [`ImportSelection`] by [`ClusterQuery::new`], or by hand in
/// tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterQuery {
    pub scope: NamespaceScope,
    /// Label selector passed to the API server as it is.
    pub selector: Option<String>,
    /// Service names; empty means every Service in scope.
    pub names: Vec<String>,
    /// `limit` of each list call (the rest comes through continue tokens).
    pub page_size: u32,
    /// For error messages.
    pub origin: ClusterOrigin,
}

impl ClusterQuery {
    /// Resolves the selection the way kubectl does: `-n` wins, else `-A`, else the namespace of
    /// the kubeconfig context (which the client carries as its default namespace).
    pub fn new(
        selection: &ImportSelection,
        names: Vec<String>,
        connection: &ClusterConnection,
    ) -> Result<Self, ImportError> {
        let scope = match (&selection.namespace, selection.all_namespaces) {
            (Some(namespace), _) => NamespaceScope::Namespace(namespace.clone()),
            (None, true) => NamespaceScope::All,
            (None, false) => {
                NamespaceScope::Namespace(connection.client.default_namespace().to_string())
            }
        };
        let query = ClusterQuery {
            scope,
            selector: selection.selector.clone(),
            names,
            page_size: DEFAULT_PAGE_SIZE,
            origin: connection.origin.clone(),
        };
        query.check()?;
        Ok(query)
    }

    /// The same combinations kubectl refuses.
    fn check(&self) -> Result<(), ImportError> {
        if self.names.is_empty() {
            return Ok(());
        }
        if self.scope == NamespaceScope::All {
            return Err(ImportError::InvalidQuery(
                "a service cannot be read by name across all namespaces: drop -A and pick the namespace with -n".to_string(),
            ));
        }
        if self.selector.is_some() {
            return Err(ImportError::InvalidQuery(
                "service names cannot be given together with a label selector (-l): use one or the other".to_string(),
            ));
        }
        Ok(())
    }
}

/// One Knative Service read from the cluster, as cleaned Knative YAML: the Service document, then
/// the ConfigMaps it references, then its Secrets with key names only (values empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedService {
    pub namespace: String,
    pub name: String,
    pub manifest_yaml: String,
}

impl ImportedService {
    /// The manifest as a loader input named like its export file (`<namespace>/<name>.yaml`),
    /// so the converter treats it exactly as that file.
    pub fn into_input(self) -> crate::knative::load::Input {
        crate::knative::load::Input {
            name: std::sync::Arc::from(format!("{}/{}.yaml", self.namespace, self.name)),
            relative_dir: std::path::PathBuf::from(&self.namespace),
            text: self.manifest_yaml,
        }
    }
}

/// The `ApiResource` of `serving.knative.dev/v1` Service (plural `services`, like core Services:
/// the group is what tells them apart).
pub fn knative_service_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(SERVING_GROUP, SERVING_VERSION, "Service");
    ApiResource::from_gvk_with_plural(&gvk, "services")
}

/// Reads the Services the query selects, with their ConfigMaps and Secret key names, cleaned and
/// rendered as YAML. Sorted by namespace, then name. An empty result is not an error (kubectl
/// says "No resources found"); the caller decides what to tell the user.
pub async fn fetch_services(
    client: Client,
    query: &ClusterQuery,
) -> Result<Vec<ImportedService>, ImportError> {
    query.check()?;
    let raw_services = if query.names.is_empty() {
        list_services(&client, query).await?
    } else {
        get_named_services(&client, query).await?
    };

    let mut services: Vec<(String, String, Value)> = Vec::with_capacity(raw_services.len());
    for object in raw_services {
        let value = serde_json::to_value(&object)
            .map_err(|_| ImportError::MalformedService("a JSON form"))?;
        let namespace = value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .ok_or(ImportError::MalformedService("metadata.namespace"))?
            .to_string();
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or(ImportError::MalformedService("metadata.name"))?
            .to_string();
        services.push((namespace, name, value));
    }
    services.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    services.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);

    let mut references = ReferenceReader::new(client, query.origin.clone());
    let mut imported = Vec::with_capacity(services.len());
    for (namespace, name, service) in services {
        let wanted = collect_references(&service);
        let mut config_maps = Vec::new();
        for config_map_name in &wanted.config_maps {
            if let Some(config_map) = references.config_map(&namespace, config_map_name).await? {
                config_maps.push(config_map);
            }
        }
        let mut secrets = Vec::new();
        for secret_name in &wanted.secrets {
            if let Some(shape) = references.secret_shape(&namespace, secret_name).await? {
                secrets.push(shape.to_manifest(&namespace, secret_name));
            }
        }
        let manifest_yaml = render_manifest(
            &namespace,
            &name,
            clean_service(service),
            config_maps,
            secrets,
        )?;
        imported.push(ImportedService {
            namespace,
            name,
            manifest_yaml,
        });
    }
    Ok(imported)
}

/// Lists every page: the API server hands out at most `limit` items and a continue token.
async fn list_services(
    client: &Client,
    query: &ClusterQuery,
) -> Result<Vec<DynamicObject>, ImportError> {
    let resource = knative_service_resource();
    let (api, namespace): (Api<DynamicObject>, Option<String>) = match &query.scope {
        NamespaceScope::All => (Api::all_with(client.clone(), &resource), None),
        NamespaceScope::Namespace(namespace) => (
            Api::namespaced_with(client.clone(), namespace, &resource),
            Some(namespace.clone()),
        ),
    };
    let action = ApiAction {
        verb: "list",
        resource: SERVICES_RESOURCE,
        namespace,
    };
    let mut params = ListParams::default().limit(query.page_size.max(1));
    if let Some(selector) = &query.selector {
        params = params.labels(selector);
    }
    let mut items = Vec::new();
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|error| classify(error, &action, &query.origin, None))?;
        items.extend(page.items);
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    Ok(items)
}

async fn get_named_services(
    client: &Client,
    query: &ClusterQuery,
) -> Result<Vec<DynamicObject>, ImportError> {
    let NamespaceScope::Namespace(namespace) = &query.scope else {
        return Err(ImportError::InvalidQuery(
            "a service cannot be read by name across all namespaces".to_string(),
        ));
    };
    let resource = knative_service_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let action = ApiAction {
        verb: "get",
        resource: SERVICES_RESOURCE,
        namespace: Some(namespace.clone()),
    };
    let mut items = Vec::with_capacity(query.names.len());
    for name in &query.names {
        let object = api
            .get(name)
            .await
            .map_err(|error| classify(error, &action, &query.origin, Some(name)))?;
        items.push(object);
    }
    Ok(items)
}
