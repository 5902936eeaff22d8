//! Environment: Knative's injected variables, literal values, ConfigMap values (inlined when
//! the ConfigMap is among the inputs) and Secrets (never inlined: templates that read a Nomad
//! Variable at the task's own path, which the task may read without an ACL policy).

use super::Ctx;
use super::references::Resolved;
use crate::knative::resources::ResourceKind;
use crate::nomad::model::Template;
use k8s_openapi::api::core::v1::{Container, EnvFromSource, EnvVar};
use std::collections::{BTreeMap, BTreeSet};

pub struct TaskEnvContext<'a> {
    pub path: &'a str,
    pub task_name: &'a str,
    pub group_name: &'a str,
    pub service_name: &'a str,
    pub revision: &'a str,
    /// The serving port, for the serving container only.
    pub port: Option<u16>,
    pub is_init: bool,
}

const RESERVED: &[&str] = &["PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"];

/// The Nomad Variable a task reads its secrets from. Nomad grants a task read access to exactly
/// `nomad/jobs/<job>/<group>/<task>` (and its parents), so no ACL policy is needed.
pub fn variable_path(ctx: &Ctx<'_>, group: &str, task: &str) -> String {
    format!("nomad/jobs/{}/{group}/{task}", ctx.job_id)
}

/// The item name inside the task's variable for `key` of Secret/ConfigMap `source`: letters,
/// digits and `_` only, so templates can use the documented `.item` syntax.
pub fn item_name(source: &str, key: &str) -> String {
    format!("{source}_{key}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Rewrites Kubernetes `$(VAR)` references to Nomad's `${VAR}`; `$$(VAR)` stays literal.
pub fn rewrite_expansion(ctx: &mut Ctx<'_>, path: &str, value: &str) -> String {
    if !value.contains("$(") {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut rewrote = false;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$(") {
            out.push_str("$(");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("$(")
            && let Some(end) = after.find(')')
            && after[..end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !after[..end].is_empty()
        {
            out.push_str("${");
            out.push_str(&after[..end]);
            out.push('}');
            rest = &after[end + 1..];
            rewrote = true;
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if rewrote {
        ctx.report(
            "K2N047",
            path,
            format!("$(VAR) references rewritten for Nomad: {out:?}"),
        );
    }
    out
}

/// Task env and the templates that supply secret (and unresolved ConfigMap) values.
pub fn task_env(
    ctx: &mut Ctx<'_>,
    c: &Container,
    tc: &TaskEnvContext<'_>,
) -> (BTreeMap<String, String>, Vec<Template>) {
    let mut env = TaskEnv {
        values: BTreeMap::new(),
        origins: BTreeMap::new(),
        from_variable: Vec::new(),
        key_sources: Vec::new(),
        short: tc
            .path
            .trim_start_matches("spec.template.spec.")
            .to_string(),
        var_path: variable_path(ctx, tc.group_name, tc.task_name),
    };
    for (i, source) in c.env_from.iter().flatten().enumerate() {
        env.add_env_from(ctx, tc, i, source);
    }
    for (i, var) in c.env.iter().flatten().enumerate() {
        env.add_var(ctx, tc, i, var);
    }
    if !tc.is_init {
        env.values
            .insert("K_SERVICE".into(), tc.service_name.to_string());
        env.values
            .insert("K_CONFIGURATION".into(), tc.service_name.to_string());
        env.values
            .insert("K_REVISION".into(), tc.revision.to_string());
    }
    if let Some(port) = tc.port {
        env.values.insert("PORT".into(), port.to_string());
    }
    env.note_origins(ctx, tc);
    let templates = env.variable_template(ctx, tc).into_iter().collect();
    (env.values, templates)
}

/// A task's env as it is built.
struct TaskEnv {
    values: BTreeMap<String, String>,
    /// Where each literal env value came from, for `--annotate`.
    origins: BTreeMap<String, String>,
    /// Lines of the env template: (variable name, item name).
    from_variable: Vec<(String, String)>,
    /// Where the key names of `envFrom` Secrets came from, for `--annotate`.
    key_sources: Vec<String>,
    /// The container's path without `spec.template.spec.`, for `--annotate` comments.
    short: String,
    /// The Nomad Variable this task reads.
    var_path: String,
}

impl TaskEnv {
    /// One `envFrom` source: a ConfigMap's keys inlined, a Secret's read from the variable.
    fn add_env_from(
        &mut self,
        ctx: &mut Ctx<'_>,
        tc: &TaskEnvContext<'_>,
        i: usize,
        source: &EnvFromSource,
    ) {
        let path = format!("{}.envFrom[{i}]", tc.path);
        let prefix = source.prefix.clone().unwrap_or_default();
        if let Some(cm) = &source.config_map_ref {
            match ctx.resolve(
                ResourceKind::ConfigMap,
                &cm.name,
                &format!("{path}.configMapRef"),
            ) {
                Resolved::Definition(definition) => {
                    for (k, v) in definition.data().into_iter().flatten() {
                        self.origins.insert(
                            format!("{prefix}{k}"),
                            format!(
                                "{}.envFrom[{i}]: ConfigMap {} key {k}, from {}",
                                self.short,
                                cm.name,
                                definition.origin()
                            ),
                        );
                        self.values.insert(format!("{prefix}{k}"), v.clone());
                    }
                }
                Resolved::Ambiguous => {}
                Resolved::Missing if cm.optional == Some(true) => {}
                Resolved::Missing => {
                    ctx.report(
                        "K2N028",
                        &path,
                        format!("ConfigMap {:?} is not among the inputs", cm.name),
                    );
                    ctx.report(
                        "K2N046",
                        &path,
                        format!(
                            "keys of ConfigMap {:?} are unknown, so they cannot be listed",
                            cm.name
                        ),
                    );
                }
            }
        }
        if let Some(secret) = &source.secret_ref {
            match ctx.resolve(
                ResourceKind::Secret,
                &secret.name,
                &format!("{path}.secretRef"),
            ) {
                Resolved::Definition(definition) => {
                    for k in definition.secret_keys().into_iter().flatten() {
                        let item = item_name(&secret.name, k);
                        self.from_variable.push((format!("{prefix}{k}"), item));
                    }
                    self.key_sources.push(format!(
                        "key names of Secret {} from {}",
                        secret.name,
                        definition.origin()
                    ));
                    ctx.report(
                        "K2N027",
                        &path,
                        format!(
                            "Secret {:?} is read from Nomad Variable {:?}",
                            secret.name, self.var_path
                        ),
                    );
                }
                Resolved::Ambiguous => {}
                Resolved::Missing => ctx.report(
                    "K2N046",
                    &path,
                    format!(
                        "keys of Secret {:?} are unknown (it is not among the inputs)",
                        secret.name
                    ),
                ),
            }
        }
    }

    /// One `env` entry: a literal, or a value read from elsewhere.
    fn add_var(&mut self, ctx: &mut Ctx<'_>, tc: &TaskEnvContext<'_>, i: usize, var: &EnvVar) {
        let path = format!("{}.env[{i}]", tc.path);
        if tc.port.is_some() && RESERVED.contains(&var.name.as_str()) {
            ctx.report(
                "K2N014",
                &format!("{path}.name"),
                format!(
                    "{} is set by Knative and may not be set in the serving container",
                    var.name
                ),
            );
            return;
        }
        let Some(from) = &var.value_from else {
            let value = rewrite_expansion(
                ctx,
                &format!("{path}.value"),
                var.value.as_deref().unwrap_or(""),
            );
            self.values.insert(var.name.clone(), value);
            return;
        };
        if let Some(r) = &from.config_map_key_ref {
            let ref_path = format!("{path}.valueFrom.configMapKeyRef");
            let value = match ctx.resolve(ResourceKind::ConfigMap, &r.name, &ref_path) {
                Resolved::Definition(definition) => definition
                    .data()
                    .and_then(|d| d.get(&r.key))
                    .map(|v| (v.clone(), definition.origin())),
                Resolved::Ambiguous => return,
                Resolved::Missing => None,
            };
            match value {
                Some((v, origin)) => {
                    self.origins.insert(
                        var.name.clone(),
                        format!(
                            "{}.env[{i}]: ConfigMap {} key {}, from {origin}",
                            self.short, r.name, r.key
                        ),
                    );
                    self.values.insert(var.name.clone(), v);
                }
                None if r.optional == Some(true) => {}
                None => {
                    ctx.report(
                        "K2N028",
                        &ref_path,
                        format!(
                            "ConfigMap {:?} key {:?} is not among the inputs; read from Nomad Variable {:?}",
                            r.name, r.key, self.var_path
                        ),
                    );
                    self.from_variable
                        .push((var.name.clone(), item_name(&r.name, &r.key)));
                }
            }
        } else if let Some(r) = &from.secret_key_ref {
            ctx.report(
                "K2N027",
                &format!("{path}.valueFrom.secretKeyRef"),
                format!(
                    "{} is read from item {:?} of Nomad Variable {:?}",
                    var.name,
                    item_name(&r.name, &r.key),
                    self.var_path
                ),
            );
            self.from_variable
                .push((var.name.clone(), item_name(&r.name, &r.key)));
        } else if let Some(f) = &from.field_ref {
            let nomad = match f.field_path.as_str() {
                "metadata.name" => Some("${NOMAD_ALLOC_NAME}"),
                "metadata.namespace" => Some("${NOMAD_NAMESPACE}"),
                "status.podIP" => Some("${NOMAD_IP_http}"),
                "spec.nodeName" => Some("${node.unique.name}"),
                "status.hostIP" => Some("${attr.unique.network.ip-address}"),
                _ => None,
            };
            let origin = format!(
                "{}.env[{i}].valueFrom.fieldRef {}",
                self.short, f.field_path
            );
            self.add_runtime_value(ctx, &path, &var.name, &f.field_path, nomad, origin);
        } else if let Some(f) = &from.resource_field_ref {
            let nomad = match f.resource.as_str() {
                "limits.cpu" | "requests.cpu" => Some("${NOMAD_CPU_LIMIT}"),
                "limits.memory" | "requests.memory" => Some("${NOMAD_MEMORY_LIMIT}"),
                _ => None,
            };
            let origin = format!(
                "{}.env[{i}].valueFrom.resourceFieldRef {}",
                self.short, f.resource
            );
            self.add_runtime_value(ctx, &path, &var.name, &f.resource, nomad, origin);
        }
    }

    /// A value Kubernetes fills in at run time (`fieldRef`, `resourceFieldRef`): Nomad's
    /// runtime variable for the same thing, when there is one.
    fn add_runtime_value(
        &mut self,
        ctx: &mut Ctx<'_>,
        path: &str,
        name: &str,
        field: &str,
        nomad: Option<&str>,
        origin: String,
    ) {
        report_env_source(ctx, path, name, field, nomad);
        self.origins.insert(name.to_string(), origin);
        if let Some(v) = nomad {
            self.values.insert(name.to_string(), v.to_string());
        }
    }

    /// `--annotate` comments: where each env value came from.
    fn note_origins(&self, ctx: &mut Ctx<'_>, tc: &TaskEnvContext<'_>) {
        let tp = ctx.task_path(tc.task_name);
        for key in self.values.keys() {
            let source = match key.as_str() {
                "PORT" if tc.port.is_some() => "injected by Knative: the serving port".to_string(),
                "K_SERVICE" | "K_CONFIGURATION" if !tc.is_init => {
                    "injected by Knative: the Service name".to_string()
                }
                "K_REVISION" if !tc.is_init => "injected by Knative: the revision name".to_string(),
                _ => match self.origins.get(key) {
                    Some(o) => o.clone(),
                    None => continue,
                },
            };
            ctx.note(format!("{tp}/env/{key}"), source);
        }
    }

    /// The template that reads secrets (and unresolved ConfigMap keys) from the task's Nomad
    /// Variable into env; its variables override literal ones of the same name.
    fn variable_template(
        &mut self,
        ctx: &mut Ctx<'_>,
        tc: &TaskEnvContext<'_>,
    ) -> Option<Template> {
        if self.from_variable.is_empty() {
            return None;
        }
        let var_path = &self.var_path;
        let mut note =
            format!("secrets (and unresolved ConfigMap keys) from Nomad Variable {var_path}");
        for source in &self.key_sources {
            note.push_str("; ");
            note.push_str(source);
        }
        ctx.note(format!("{}/template", ctx.task_path(tc.task_name)), note);
        let mut seen = BTreeSet::new();
        let mut lines = String::new();
        for (name, item) in &self.from_variable {
            if !seen.insert(name.clone()) {
                continue;
            }
            self.values.remove(name);
            lines.push_str(&format!("{name}={{{{ .{item} }}}}\n"));
            ctx.variables
                .entry(var_path.clone())
                .or_default()
                .insert(item.clone());
        }
        Some(Template {
            embedded_tmpl: Some(format!(
                "{{{{ with nomadVar \"{var_path}\" -}}}}\n{lines}{{{{- end }}}}\n"
            )),
            dest_path: Some("secrets/env.env".to_string()),
            envvars: Some(true),
            change_mode: Some("restart".to_string()),
            ..Template::default()
        })
    }
}

fn report_env_source(ctx: &mut Ctx<'_>, path: &str, name: &str, field: &str, nomad: Option<&str>) {
    let message = match nomad {
        Some(v) => format!("{name} reads {field}; set to Nomad's {v} instead"),
        None => format!("{name} reads {field}, which has no Nomad equivalent; it is not set"),
    };
    ctx.report("K2N040", &format!("{path}.valueFrom"), message);
}
