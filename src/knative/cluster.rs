//! Cluster import: read Knative Services straight from a Kubernetes cluster and hand them back as
//! cleaned Knative YAML text, one document set per Service.
//!
//! What it does: connects the way kubectl does (kubeconfig, `KUBECONFIG`, `--context`, the
//! context's namespace, in-cluster configuration as the last resort), lists
//! `serving.knative.dev/v1` Services page by page, reads the ConfigMaps they reference and **only
//! the key names** of the Secrets they reference, strips what the cluster added (status, server
//! metadata, webhook annotations, defaulted noise that `kn service export` also drops), and renders
//! deterministic YAML (sorted keys). `--export-dir` writes the same text to
//! `DIR/<namespace>/<name>.yaml`.
//!
//! What it is not: a converter. The YAML it returns goes through exactly the same loader as files,
//! so a Service converted from the cluster and from its exported YAML gives the same job by
//! construction. It never writes to the cluster, and a Secret value never leaves
//! [`read_secret_shape`]: it is not returned, printed, logged or written.

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher;
use kube::{Client, Config};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// API group of Knative Serving.
pub const SERVING_GROUP: &str = "serving.knative.dev";
/// The only Knative Serving version this tool reads.
pub const SERVING_VERSION: &str = "v1";
/// Label that Knative puts on every pod of a revision.
pub const REVISION_LABEL: &str = "serving.knative.dev/revision";
/// Page size of list calls, the same chunk size kubectl uses.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// Resource name used in messages and RBAC rules.
const SERVICES_RESOURCE: &str = "services.serving.knative.dev";

/// Annotations the cluster (webhook or kubectl) adds that say nothing about the workload. The same
/// list `kn service export` drops.
const STRIPPED_ANNOTATIONS: [&str; 3] = [
    "serving.knative.dev/creator",
    "serving.knative.dev/lastModifier",
    "kubectl.kubernetes.io/last-applied-configuration",
];

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

/// How to reach the cluster, as kubectl finds it: a kubeconfig file (default: `KUBECONFIG`, which
/// may list several files, else `~/.kube/config`) and a context (default: its current-context).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeSettings {
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
}

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

/// Where the client points, for messages that tell the user which cluster said what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOrigin {
    /// API server URL, e.g. `https://127.0.0.1:6443`; empty when unknown (a bare `Client`).
    pub server_url: String,
    /// Kubeconfig context name; `None` for in-cluster or hand-built configuration.
    pub context: Option<String>,
}

impl fmt::Display for ClusterOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let server = if self.server_url.is_empty() {
            "the client's API server"
        } else {
            self.server_url.as_str()
        };
        match &self.context {
            Some(context) => write!(f, "{server} (context \"{context}\")"),
            None => write!(f, "{server}"),
        }
    }
}

/// A ready client plus where it points.
#[derive(Clone)]
pub struct ClusterConnection {
    pub client: Client,
    pub origin: ClusterOrigin,
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

/// One API call, named as RBAC names it: `list services.serving.knative.dev in namespace "x"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAction {
    pub verb: &'static str,
    pub resource: &'static str,
    /// `None` for a cluster-wide call.
    pub namespace: Option<String>,
}

impl fmt::Display for ApiAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(
                f,
                "{} {} in namespace \"{}\"",
                self.verb, self.resource, namespace
            ),
            None => write!(f, "{} {} in all namespaces", self.verb, self.resource),
        }
    }
}

/// Everything that can go wrong, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "could not load the kubeconfig{}: {source}\n  hint: point --kubeconfig or KUBECONFIG at a valid file, or pick a context that exists with --context",
        path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default()
    )]
    Kubeconfig {
        path: Option<PathBuf>,
        #[source]
        source: Box<kube::config::KubeconfigError>,
    },
    #[error(
        "no Kubernetes configuration found: {kubeconfig}; and not running inside a cluster ({in_cluster})\n  hint: set KUBECONFIG or --kubeconfig to a kubeconfig file"
    )]
    NoConfiguration {
        kubeconfig: String,
        in_cluster: String,
    },
    #[error("could not build a Kubernetes client for {origin}: {source}")]
    Client {
        origin: Box<ClusterOrigin>,
        #[source]
        source: Box<kube::Error>,
    },
    #[error(
        "cannot reach the Kubernetes API server at {origin}: {cause}\n  hint: check that the cluster is running and that this context is the right one (`kubectl cluster-info` uses the same settings)"
    )]
    Unreachable {
        origin: Box<ClusterOrigin>,
        /// The whole chain of causes ("connection refused" sits several levels down).
        cause: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error(
        "the API server at {origin} rejected the credentials (401 Unauthorized) while trying to {action}: {message}\n  hint: log in again or refresh the token of this kubeconfig user"
    )]
    Unauthorized {
        origin: Box<ClusterOrigin>,
        action: ApiAction,
        message: String,
    },
    #[error(
        "forbidden: cannot {action} on {origin}: {message}\n  hint: ask for a Role (or ClusterRole for -A) granting `{}` on {}; docs/import.md lists the minimal rules",
        action.verb, action.resource
    )]
    Forbidden {
        origin: Box<ClusterOrigin>,
        action: ApiAction,
        message: String,
    },
    #[error(
        "serving.knative.dev/v1 is not served by the cluster at {origin}: Knative Serving is not installed (the services.serving.knative.dev CRD is absent)\n  hint: install Knative Serving there, or choose the cluster that runs it with --context"
    )]
    KnativeNotInstalled { origin: Box<ClusterOrigin> },
    #[error(
        "Knative Service \"{name}\" not found in namespace \"{namespace}\" on {origin}\n  hint: `kubectl get ksvc -n {namespace}` lists the services there; choose another namespace with -n"
    )]
    ServiceNotFound {
        origin: Box<ClusterOrigin>,
        namespace: String,
        name: String,
    },
    #[error("{0}")]
    InvalidQuery(String),
    #[error("the API server at {origin} answered {code} to {action}: {message}")]
    Api {
        origin: Box<ClusterOrigin>,
        action: ApiAction,
        code: u16,
        message: String,
    },
    #[error("unexpected answer from {origin} to {action}: {source}")]
    Response {
        origin: Box<ClusterOrigin>,
        action: ApiAction,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("the API server returned a Knative Service without {0}")]
    MalformedService(&'static str),
    #[error("could not render {kind} {namespace}/{name} as YAML: {source}")]
    Render {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("refusing to export {namespace}/{name}: not a safe file name")]
    UnsafeExportName { namespace: String, name: String },
    #[error("could not write {}: {source}", path.display())]
    Export {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the watch of pods labelled {selector} in namespace \"{namespace}\" ended before they were gone"
    )]
    WatchEnded { namespace: String, selector: String },
}

/// Installs rustls' ring provider once per process. reqwest and kube both need a process-wide
/// provider; a second install attempt only reports that one is already there, which is fine.
pub fn install_crypto_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

/// Builds a client the way kubectl finds its settings: `--kubeconfig`, else `KUBECONFIG` (a list
/// of files, merged), else `~/.kube/config`; `--context` else the current-context; and, with
/// none of these present, the in-cluster service account.
pub async fn connect(settings: &KubeSettings) -> Result<ClusterConnection, ImportError> {
    install_crypto_provider();
    let options = KubeConfigOptions {
        context: settings.context.clone(),
        cluster: None,
        user: None,
    };
    let kubeconfig = match &settings.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).map_err(|source| ImportError::Kubeconfig {
            path: Some(path.clone()),
            source: Box::new(source),
        })?,
        None => match Kubeconfig::read() {
            Ok(kubeconfig) => kubeconfig,
            Err(source) => {
                let may_use_in_cluster =
                    settings.context.is_none() && std::env::var_os("KUBECONFIG").is_none();
                if !may_use_in_cluster {
                    return Err(ImportError::Kubeconfig {
                        path: None,
                        source: Box::new(source),
                    });
                }
                return match Config::incluster() {
                    Ok(config) => client_for(config, None),
                    Err(in_cluster) => Err(ImportError::NoConfiguration {
                        kubeconfig: source.to_string(),
                        in_cluster: in_cluster.to_string(),
                    }),
                };
            }
        },
    };
    let context = settings
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone());
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| ImportError::Kubeconfig {
            path: settings.kubeconfig.clone(),
            source: Box::new(source),
        })?;
    client_for(config, context)
}

/// Builds the client for an already resolved configuration (also what tests use with
/// `Config::new(url)`).
pub fn client_for(
    config: Config,
    context: Option<String>,
) -> Result<ClusterConnection, ImportError> {
    install_crypto_provider();
    let origin = ClusterOrigin {
        server_url: config.cluster_url.to_string(),
        context,
    };
    let client = Client::try_from(config).map_err(|source| ImportError::Client {
        origin: Box::new(origin.clone()),
        source: Box::new(source),
    })?;
    Ok(ClusterConnection { client, origin })
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

/// Turns a kube error into one that says what to do. `wanted_name` is set for a get by name, so
/// that a 404 naming that object means "no such service" while any other 404 means the API
/// itself is missing (an absent CRD gives "the server could not find the requested resource"
/// with no object name, or a plain-text "404 page not found").
fn classify(
    error: kube::Error,
    action: &ApiAction,
    origin: &ClusterOrigin,
    wanted_name: Option<&str>,
) -> ImportError {
    match error {
        kube::Error::Api(status) => {
            let message = status.message.clone();
            match status.code {
                401 => ImportError::Unauthorized {
                    origin: Box::new(origin.clone()),
                    action: action.clone(),
                    message,
                },
                403 => ImportError::Forbidden {
                    origin: Box::new(origin.clone()),
                    action: action.clone(),
                    message,
                },
                404 if action.resource == SERVICES_RESOURCE => {
                    let names_object = status
                        .details
                        .as_ref()
                        .is_some_and(|details| !details.name.is_empty());
                    match (wanted_name, names_object) {
                        (Some(name), true) => ImportError::ServiceNotFound {
                            origin: Box::new(origin.clone()),
                            namespace: action.namespace.clone().unwrap_or_default(),
                            name: name.to_string(),
                        },
                        _ => ImportError::KnativeNotInstalled {
                            origin: Box::new(origin.clone()),
                        },
                    }
                }
                code => ImportError::Api {
                    origin: Box::new(origin.clone()),
                    action: action.clone(),
                    code,
                    message,
                },
            }
        }
        // Connection refused, DNS, TLS handshake, timeouts: the server was never heard from.
        error @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => {
            ImportError::Unreachable {
                origin: Box::new(origin.clone()),
                cause: cause_chain(&error),
                source: Box::new(error),
            }
        }
        other => ImportError::Response {
            origin: Box::new(origin.clone()),
            action: action.clone(),
            source: Box::new(other),
        },
    }
}

/// "outer: inner: innermost", skipping a cause already contained in the text before it.
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        cause = inner.source();
    }
    text
}

/// Names of the ConfigMaps and Secrets one Service's pod template refers to.
#[derive(Debug, Default, PartialEq, Eq)]
struct References {
    config_maps: BTreeSet<String>,
    secrets: BTreeSet<String>,
}

/// Walks env `configMapKeyRef`/`secretKeyRef`, `envFrom`, configMap/secret volumes and projected
/// sources of every container and init container. (imagePullSecrets are registry credentials the
/// Nomad docker driver takes elsewhere, so they are not read.)
fn collect_references(service: &Value) -> References {
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
struct SecretShape {
    secret_type: Option<String>,
    keys: BTreeSet<String>,
}

impl SecretShape {
    /// A `v1 Secret` whose every key maps to the empty string, so the converter knows which keys
    /// exist (for Nomad Variable templates) while no value exists in the output.
    fn to_manifest(&self, namespace: &str, name: &str) -> Value {
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
struct ReferenceReader {
    client: Client,
    origin: ClusterOrigin,
    config_maps: HashMap<(String, String), Option<Value>>,
    secret_shapes: HashMap<(String, String), Option<SecretShape>>,
}

impl ReferenceReader {
    fn new(client: Client, origin: ClusterOrigin) -> Self {
        ReferenceReader {
            client,
            origin,
            config_maps: HashMap::new(),
            secret_shapes: HashMap::new(),
        }
    }

    async fn config_map(
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
                let value =
                    serde_json::to_value(&config_map).map_err(|source| ImportError::Response {
                        origin: Box::new(self.origin.clone()),
                        action: action.clone(),
                        source: Box::new(kube::Error::SerdeError(source)),
                    })?;
                Some(clean_config_map(value))
            }
            None => None,
        };
        self.config_maps.insert(key, cleaned.clone());
        Ok(cleaned)
    }

    async fn secret_shape(
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
    let secret = api
        .get_opt(name)
        .await
        .map_err(|error| classify(error, &action, origin, Some(name)))?;
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
fn clean_config_map(mut config_map: Value) -> Value {
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
        for annotation in STRIPPED_ANNOTATIONS {
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
fn render_manifest(
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

/// Writes `DIR/<namespace>/<name>.yaml` for each service (the layout of `kn service export`),
/// each atomically: a temporary file in the same directory, synced, then renamed over the
/// target. Returns the paths written, in input order.
pub fn export(dir: &Path, services: &[ImportedService]) -> Result<Vec<PathBuf>, ImportError> {
    let mut written = Vec::with_capacity(services.len());
    for service in services {
        if !is_safe_path_segment(&service.namespace) || !is_safe_path_segment(&service.name) {
            return Err(ImportError::UnsafeExportName {
                namespace: service.namespace.clone(),
                name: service.name.clone(),
            });
        }
        let namespace_dir = dir.join(&service.namespace);
        std::fs::create_dir_all(&namespace_dir).map_err(|source| ImportError::Export {
            path: namespace_dir.clone(),
            source,
        })?;
        let target = namespace_dir.join(format!("{}.yaml", service.name));
        write_atomically(&target, service.manifest_yaml.as_bytes())?;
        written.push(target);
    }
    Ok(written)
}

/// Kubernetes names are DNS labels/subdomains; anything else must not become a path.
fn is_safe_path_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

fn write_atomically(target: &Path, contents: &[u8]) -> Result<(), ImportError> {
    let file_name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = target.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, target)
    })();
    result.map_err(|source| {
        // Best effort: a half-written temporary file must not be left behind.
        let _ignored = std::fs::remove_file(&temporary);
        ImportError::Export {
            path: target.to_path_buf(),
            source,
        }
    })
}

/// Waits, by watching (no polling), until no pod of `revision` in `namespace` is running: every
/// pod labelled `serving.knative.dev/revision=<revision>` is gone or has finished (Succeeded or
/// Failed). A terminating pod still counts. Returns at once when there are none. Wrap it in
/// `tokio::time::timeout` to bound the wait.
pub async fn wait_for_zero_pods(
    client: Client,
    namespace: &str,
    revision: &str,
) -> Result<(), ImportError> {
    // A bare Client does not say where it points; errors then name "the client's API server".
    let origin = ClusterOrigin {
        server_url: String::new(),
        context: None,
    };
    wait_for_zero_pods_on(client, &origin, namespace, revision).await
}

/// [`wait_for_zero_pods`] with the origin named in errors.
pub async fn wait_for_zero_pods_on(
    client: Client,
    origin: &ClusterOrigin,
    namespace: &str,
    revision: &str,
) -> Result<(), ImportError> {
    let selector = format!("{REVISION_LABEL}={revision}");
    wait_for_zero_pods_selected(client, origin, namespace, &selector).await
}

/// Watches the pods matching a label selector (e.g. `serving.knative.dev/service=hello`, as the
/// verifier uses for every revision of a Service) until none is left.
pub async fn wait_for_zero_pods_selected(
    client: Client,
    origin: &ClusterOrigin,
    namespace: &str,
    selector: &str,
) -> Result<(), ImportError> {
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    let config = watcher::Config::default().labels(selector);
    let list_action = ApiAction {
        verb: "list",
        resource: "pods",
        namespace: Some(namespace.to_string()),
    };
    let watch_action = ApiAction {
        verb: "watch",
        resource: "pods",
        namespace: Some(namespace.to_string()),
    };
    let mut events = Box::pin(watcher(pods, config));
    let mut running: BTreeSet<String> = BTreeSet::new();
    // Objects of a (re)list arrive between Init and InitDone; only then is the set complete.
    let mut listing: Option<BTreeSet<String>> = None;
    loop {
        let event = events.try_next().await.map_err(|error| match error {
            watcher::Error::InitialListFailed(error) => classify(error, &list_action, origin, None),
            watcher::Error::WatchStartFailed(error) | watcher::Error::WatchFailed(error) => {
                classify(error, &watch_action, origin, None)
            }
            watcher::Error::WatchError(status) => ImportError::Api {
                origin: Box::new(origin.clone()),
                action: watch_action.clone(),
                code: status.code,
                message: status.message,
            },
            watcher::Error::NoResourceVersion => ImportError::Api {
                origin: Box::new(origin.clone()),
                action: list_action.clone(),
                code: 0,
                message: "the pod list carried no resourceVersion to watch from".to_string(),
            },
        })?;
        let Some(event) = event else {
            return Err(ImportError::WatchEnded {
                namespace: namespace.to_string(),
                selector: selector.to_string(),
            });
        };
        match event {
            watcher::Event::Init => listing = Some(BTreeSet::new()),
            watcher::Event::InitApply(pod) => {
                if let (Some(listed), Some(name)) = (listing.as_mut(), counted_pod_name(&pod)) {
                    listed.insert(name);
                }
            }
            watcher::Event::InitDone => {
                running = listing.take().unwrap_or_default();
                if running.is_empty() {
                    return Ok(());
                }
            }
            watcher::Event::Apply(pod) => {
                let name = pod.metadata.name.clone().unwrap_or_default();
                if counted_pod_name(&pod).is_some() {
                    running.insert(name);
                } else {
                    running.remove(&name);
                }
                if running.is_empty() {
                    return Ok(());
                }
            }
            watcher::Event::Delete(pod) => {
                running.remove(&pod.metadata.name.clone().unwrap_or_default());
                if running.is_empty() {
                    return Ok(());
                }
            }
        }
    }
}

/// The pod's name when it still counts as running (anything but finished).
fn counted_pod_name(pod: &Pod) -> Option<String> {
    let phase = pod
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    pod.metadata.name.clone()
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

    #[test]
    fn unsafe_export_names_are_refused() {
        assert!(is_safe_path_segment("hello-world"));
        assert!(!is_safe_path_segment(".."));
        assert!(!is_safe_path_segment("a/b"));
        assert!(!is_safe_path_segment(""));
    }
}
