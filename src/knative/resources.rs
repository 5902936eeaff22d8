//! The ConfigMaps and Secrets of a batch's inputs, which Services' env and volumes refer to:
//! ConfigMap data as it is, Secrets as their key names only, each with the file and line that
//! defines it; and which of them a Service sees.
//!
//! The rule (docs/mapping.md): a Service resolves a namespace/name to the *nearest*
//! definition: in its own file, else in its own folder, else in the closest parent folder
//! ([`super::scope`]); definitions in sibling folders are never seen. Identical definitions at
//! that distance are one; different ones are [`Resolution::Ambiguous`], which the converter
//! reports as an error rather than picking one. "Identical" means: for ConfigMaps the same
//! `data` and `binaryData` (keys and values, as the strings the converter would use); for
//! Secrets the same key names (`data` and `stringData`), since key names are all that is kept.
//!
//! Definitions are indexed by (kind, namespace, name, folder), so resolving a reference walks up
//! the Service's folders (one lookup per enclosing folder that holds any definition), never
//! through the definitions: a batch with the same name in 1,000 folders costs no more per
//! reference than one with a single definition.
//!
//! What it is not: a store of Secret values. They are never read, so nothing downstream can
//! leak or compare them.

use super::load::{Document, DocumentKind};
use super::scope::{FolderId, Folders};
use serde::Serialize;
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

/// The two kinds a Service reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ResourceKind {
    ConfigMap,
    Secret,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::ConfigMap => "ConfigMap",
            ResourceKind::Secret => "Secret",
        })
    }
}

/// What a definition holds; equality is the "identical" of the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    ConfigMap {
        data: BTreeMap<String, String>,
        binary_data: BTreeMap<String, String>,
    },
    /// Key names of `data` and `stringData`, sorted, without duplicates. Never values.
    Secret { keys: Vec<String> },
}

/// One ConfigMap or Secret document of the inputs.
#[derive(Debug, Clone)]
pub struct Definition {
    pub file: Arc<str>,
    /// The line of its `metadata.name`.
    pub line: usize,
    pub content: Content,
}

impl Definition {
    /// A ConfigMap's `data` (scalar values as strings); `None` for a Secret.
    pub fn data(&self) -> Option<&BTreeMap<String, String>> {
        match &self.content {
            Content::ConfigMap { data, .. } => Some(data),
            Content::Secret { .. } => None,
        }
    }

    /// A Secret's key names; `None` for a ConfigMap.
    pub fn secret_keys(&self) -> Option<&[String]> {
        match &self.content {
            Content::Secret { keys } => Some(keys),
            Content::ConfigMap { .. } => None,
        }
    }

    /// `file:line`, for messages and `--annotate`.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// How far a definition is from the Service that uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distance {
    SameFile,
    SameFolder,
    /// This many folders above the Service's folder.
    ParentFolder(usize),
}

impl fmt::Display for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distance::SameFile => f.write_str("in the Service's own file"),
            Distance::SameFolder => f.write_str("in the Service's folder"),
            Distance::ParentFolder(1) => f.write_str("in the parent folder"),
            Distance::ParentFolder(n) => write!(f, "in the folder {n} levels up"),
        }
    }
}

/// What a reference resolves to.
#[derive(Debug, Clone, Copy)]
pub enum Resolution<'a> {
    Found(&'a Definition),
    /// Two different definitions at the nearest distance: never a silent pick.
    Ambiguous {
        first: &'a Definition,
        second: &'a Definition,
        distance: Distance,
    },
    /// None in scope; `elsewhere` is one defined out of scope (a sibling folder), if any.
    Missing {
        elsewhere: Option<&'a Definition>,
    },
}

/// Where one resolved ConfigMap or Secret came from, for reports. Its namespace is the
/// Service's (a reference never leaves it). Kept for every Service of a batch, so it is small:
/// the file name is shared with the input's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ResolvedFrom {
    pub kind: ResourceKind,
    pub name: String,
    #[serde(serialize_with = "ser_arc_str")]
    pub file: Arc<str>,
    pub line: usize,
}

fn ser_arc_str<S: serde::Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

/// Index of a (kind, namespace, name) in [`Resources`].
type NameId = u32;

/// The ConfigMaps and Secrets of a batch, indexed for scoped resolution.
#[derive(Debug, Default, Clone)]
pub struct Resources {
    folders: Folders,
    /// kind → namespace → name → id; nested so lookups borrow the reference's strings.
    names: [HashMap<String, HashMap<String, NameId>>; 2],
    /// Definitions of a name in one folder, in input order.
    placed: HashMap<(NameId, FolderId), Vec<usize>>,
    /// The first definition of each name, for saying where an out-of-scope one is.
    first_of_name: Vec<usize>,
    definitions: Vec<Definition>,
}

impl Resources {
    /// An empty table; relative input names are taken relative to the working directory.
    pub fn new() -> Resources {
        Resources {
            folders: Folders::for_current_dir(),
            ..Resources::default()
        }
    }

    /// Adds a ConfigMap or Secret document (others, and unnamed ones, are ignored).
    pub fn add(&mut self, doc: &Document, kind: DocumentKind) {
        let Some(name) = doc.name() else { return };
        let namespace = doc.namespace().unwrap_or("default");
        let (kind, content) = match kind {
            DocumentKind::ConfigMap => (
                ResourceKind::ConfigMap,
                Content::ConfigMap {
                    data: scalar_map(doc.value.get("data")),
                    binary_data: scalar_map(doc.value.get("binaryData")),
                },
            ),
            DocumentKind::Secret => {
                let mut keys = Vec::new();
                for field in ["data", "stringData"] {
                    if let Some(map) = doc.value.get(field).and_then(|d| d.as_mapping()) {
                        keys.extend(map.keys().filter_map(|k| k.as_str().map(str::to_string)));
                    }
                }
                keys.sort();
                keys.dedup();
                (ResourceKind::Secret, Content::Secret { keys })
            }
            _ => return,
        };
        let definition = self.definitions.len();
        self.definitions.push(Definition {
            file: doc.file.clone(),
            line: doc.location("metadata.name").line,
            content,
        });
        let by_name = self.names[kind as usize]
            .entry(namespace.to_string())
            .or_default();
        let name_id = match by_name.get(name) {
            Some(id) => *id,
            None => {
                let id = self.first_of_name.len() as NameId;
                self.first_of_name.push(definition);
                by_name.insert(name.to_string(), id);
                id
            }
        };
        let folder = self.folders.intern(&doc.file);
        self.placed
            .entry((name_id, folder))
            .or_default()
            .push(definition);
    }

    /// What the Service in input `file` sees.
    pub fn scope<'a>(&'a self, file: &'a str) -> Scope<'a> {
        Scope {
            resources: self,
            file,
            enclosing: OnceCell::new(),
        }
    }

    fn name_id(&self, kind: ResourceKind, namespace: &str, name: &str) -> Option<NameId> {
        self.names[kind as usize].get(namespace)?.get(name).copied()
    }
}

/// The definitions one Service sees; its enclosing folders are worked out on first use, so a
/// Service that refers to no ConfigMap or Secret costs nothing.
#[derive(Debug)]
pub struct Scope<'a> {
    resources: &'a Resources,
    file: &'a str,
    enclosing: OnceCell<Vec<(FolderId, usize)>>,
}

impl<'a> Scope<'a> {
    /// The nearest definition of `kind` `namespace`/`name` (see the module doc).
    pub fn resolve(&self, kind: ResourceKind, namespace: &str, name: &str) -> Resolution<'a> {
        let resources = self.resources;
        let Some(id) = resources.name_id(kind, namespace, name) else {
            return Resolution::Missing { elsewhere: None };
        };
        let enclosing = self
            .enclosing
            .get_or_init(|| resources.folders.enclosing(self.file));
        for &(folder, up) in enclosing {
            let Some(placed) = resources.placed.get(&(id, folder)) else {
                continue;
            };
            let defs = placed.iter().map(|&i| &resources.definitions[i]);
            if up == 0 {
                let same_file: Vec<&Definition> =
                    defs.clone().filter(|d| &*d.file == self.file).collect();
                if !same_file.is_empty() {
                    return nearest(same_file, Distance::SameFile);
                }
                return nearest(defs.collect(), Distance::SameFolder);
            }
            return nearest(defs.collect(), Distance::ParentFolder(up));
        }
        Resolution::Missing {
            elsewhere: Some(&resources.definitions[resources.first_of_name[id as usize]]),
        }
    }
}

/// The one definition among those at the same distance, or the first two that differ.
fn nearest<'a>(defs: Vec<&'a Definition>, distance: Distance) -> Resolution<'a> {
    let Some((&first, rest)) = defs.split_first() else {
        return Resolution::Missing { elsewhere: None };
    };
    match rest.iter().copied().find(|d| d.content != first.content) {
        Some(second) => Resolution::Ambiguous {
            first,
            second,
            distance,
        },
        None => Resolution::Found(first),
    }
}

/// A mapping's scalar values as strings (what the converter inlines); other values are dropped,
/// as Kubernetes refuses them.
fn scalar_map(value: Option<&serde_yaml::Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(map) = value.and_then(|d| d.as_mapping()) {
        for (k, v) in map {
            if let (Some(k), Some(v)) = (k.as_str(), scalar_string(v)) {
                out.insert(k.to_string(), v);
            }
        }
    }
    out
}

fn scalar_string(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knative::load::{self, Input, classify};
    use std::path::PathBuf;

    fn config_map(name: &str, namespace: Option<&str>, value: &str) -> String {
        let namespace = namespace
            .map(|n| format!("\n  namespace: {n}"))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{namespace}\ndata:\n  KEY: {value}\n---\n"
        )
    }

    fn secret(name: &str, keys: &[&str], value: &str) -> String {
        let data: String = keys.iter().map(|k| format!("  {k}: {value}\n")).collect();
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\nstringData:\n{data}---\n")
    }

    /// A table from (file, text) pairs, relative to a fixed base.
    fn resources(files: &[(&str, String)]) -> Resources {
        let mut resources = Resources {
            folders: Folders::default(),
            ..Resources::default()
        };
        for (name, text) in files {
            let input = Input {
                name: Arc::from(*name),
                relative_dir: PathBuf::new(),
                text: text.clone(),
            };
            for doc in load::split_documents(&input).0 {
                let kind = classify(&doc);
                resources.add(&doc, kind);
            }
        }
        resources
    }

    fn found(resolution: Resolution<'_>) -> (String, Option<String>) {
        match resolution {
            Resolution::Found(d) => (d.origin(), d.data().and_then(|d| d.get("KEY")).cloned()),
            other => panic!("expected a definition, got {other:?}"),
        }
    }

    #[test]
    fn nearest_definition_wins_file_then_folder_then_parents() {
        let r = resources(&[
            ("envs/base.yaml", config_map("cfg", None, "root")),
            ("envs/prod/cm.yaml", config_map("cfg", None, "prod-folder")),
            (
                "envs/prod/own.yaml",
                format!(
                    "{}{}",
                    config_map("other", None, "x"),
                    config_map("cfg", None, "own-file")
                ),
            ),
            ("envs/staging/cm.yaml", config_map("cfg", None, "staging")),
        ]);
        let cm = ResourceKind::ConfigMap;
        // Its own file first, though its folder and a parent define it too.
        assert_eq!(
            found(r.scope("envs/prod/own.yaml").resolve(cm, "default", "cfg")),
            ("envs/prod/own.yaml:11".into(), Some("own-file".into()))
        );
        // Then its folder: another file of prod/ sees both of prod/'s definitions, which
        // differ.
        assert!(matches!(
            r.scope("envs/prod/app.yaml").resolve(cm, "default", "cfg"),
            Resolution::Ambiguous {
                distance: Distance::SameFolder,
                ..
            }
        ));
        assert_eq!(
            found(
                r.scope("envs/staging/app.yaml")
                    .resolve(cm, "default", "cfg")
            ),
            ("envs/staging/cm.yaml:4".into(), Some("staging".into()))
        );
        // Then the closest parent: a folder below staging/ sees staging/, not envs/.
        assert_eq!(
            found(
                r.scope("envs/staging/eu/app.yaml")
                    .resolve(cm, "default", "cfg")
            )
            .1,
            Some("staging".into())
        );
        // A folder with none of its own sees the parent's, never a sibling's.
        assert_eq!(
            found(r.scope("envs/dev/app.yaml").resolve(cm, "default", "cfg")).1,
            Some("root".into())
        );
        // Outside the tree: not found, but said where one is.
        match r.scope("elsewhere/app.yaml").resolve(cm, "default", "cfg") {
            Resolution::Missing { elsewhere: Some(d) } => {
                assert_eq!(d.origin(), "envs/base.yaml:4")
            }
            other => panic!("{other:?}"),
        }
        // Namespaces and kinds are separate names.
        assert!(matches!(
            r.scope("envs/dev/app.yaml").resolve(cm, "other-ns", "cfg"),
            Resolution::Missing { elsewhere: None }
        ));
        assert!(matches!(
            r.scope("envs/dev/app.yaml")
                .resolve(ResourceKind::Secret, "default", "cfg"),
            Resolution::Missing { elsewhere: None }
        ));
    }

    #[test]
    fn namespaces_are_separate_at_the_same_distance() {
        let r = resources(&[
            ("d/a.yaml", config_map("cfg", Some("team-a"), "a")),
            ("d/b.yaml", config_map("cfg", Some("team-b"), "b")),
        ]);
        let scope = r.scope("d/app.yaml");
        assert_eq!(
            found(scope.resolve(ResourceKind::ConfigMap, "team-a", "cfg")).1,
            Some("a".into())
        );
        assert_eq!(
            found(scope.resolve(ResourceKind::ConfigMap, "team-b", "cfg")).1,
            Some("b".into())
        );
    }

    #[test]
    fn sibling_only_definition_is_missing_with_where_it_is() {
        let r = resources(&[("envs/staging/cm.yaml", config_map("cfg", None, "s"))]);
        match r
            .scope("envs/prod/app.yaml")
            .resolve(ResourceKind::ConfigMap, "default", "cfg")
        {
            Resolution::Missing { elsewhere: Some(d) } => {
                assert_eq!(d.origin(), "envs/staging/cm.yaml:4")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn identical_definitions_at_one_distance_are_one_different_ones_are_ambiguous() {
        let r = resources(&[
            ("same/a.yaml", config_map("cfg", None, "v")),
            ("same/b.yaml", config_map("cfg", None, "v")),
            ("diff/a.yaml", config_map("cfg", None, "v1")),
            ("diff/b.yaml", config_map("cfg", None, "v1")),
            ("diff/c.yaml", config_map("cfg", None, "v2")),
            (
                "onefile/x.yaml",
                format!(
                    "{}{}",
                    config_map("cfg", None, "1"),
                    config_map("cfg", None, "2")
                ),
            ),
        ]);
        let cm = ResourceKind::ConfigMap;
        // The first in input order is the one reported.
        assert_eq!(
            found(r.scope("same/app.yaml").resolve(cm, "default", "cfg")).0,
            "same/a.yaml:4"
        );
        match r.scope("diff/app.yaml").resolve(cm, "default", "cfg") {
            Resolution::Ambiguous {
                first,
                second,
                distance,
            } => {
                assert_eq!(first.origin(), "diff/a.yaml:4");
                assert_eq!(second.origin(), "diff/c.yaml:4");
                assert_eq!(distance, Distance::SameFolder);
            }
            other => panic!("{other:?}"),
        }
        // Within one file too; a Service in a file of its own in that folder is as ambiguous.
        assert!(matches!(
            r.scope("onefile/x.yaml").resolve(cm, "default", "cfg"),
            Resolution::Ambiguous {
                distance: Distance::SameFile,
                ..
            }
        ));
        assert!(matches!(
            r.scope("onefile/deeper/y.yaml")
                .resolve(cm, "default", "cfg"),
            Resolution::Ambiguous {
                distance: Distance::ParentFolder(1),
                ..
            }
        ));
    }

    #[test]
    fn configmap_binary_data_counts_for_identity() {
        let with_binary = |b: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  K: v\nbinaryData:\n  bin: {b}\n"
            )
        };
        let r = resources(&[
            ("d/a.yaml", with_binary("AAAA")),
            ("d/b.yaml", with_binary("AAAB")),
        ]);
        assert!(matches!(
            r.scope("d/app.yaml")
                .resolve(ResourceKind::ConfigMap, "default", "cfg"),
            Resolution::Ambiguous { .. }
        ));
    }

    #[test]
    fn secrets_are_identical_by_key_names_and_values_are_never_kept() {
        let r = resources(&[
            (
                "same/a.yaml",
                secret("api", &["token", "user"], "value-one"),
            ),
            (
                "same/b.yaml",
                secret("api", &["user", "token"], "value-two"),
            ),
            ("diff/a.yaml", secret("api", &["token"], "v")),
            ("diff/b.yaml", secret("api", &["token", "extra"], "v")),
        ]);
        let s = ResourceKind::Secret;
        match r.scope("same/app.yaml").resolve(s, "default", "api") {
            Resolution::Found(d) => {
                assert_eq!(
                    d.secret_keys(),
                    Some(&["token".to_string(), "user".to_string()][..])
                );
                assert!(!format!("{d:?}").contains("value-"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            r.scope("diff/app.yaml").resolve(s, "default", "api"),
            Resolution::Ambiguous { .. }
        ));
    }

    #[test]
    fn one_name_in_many_folders_resolves_each_to_its_own() {
        let files: Vec<(String, String)> = (0..500)
            .map(|i| {
                (
                    format!("g{i}/cm.yaml"),
                    config_map("cfg", None, &format!("v{i}")),
                )
            })
            .collect();
        let files: Vec<(&str, String)> =
            files.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        let r = resources(&files);
        for i in [0, 250, 499] {
            let file = format!("g{i}/svc.yaml");
            assert_eq!(
                found(
                    r.scope(&file)
                        .resolve(ResourceKind::ConfigMap, "default", "cfg")
                )
                .1,
                Some(format!("v{i}"))
            );
        }
    }
}
