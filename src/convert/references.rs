//! A Service's references to ConfigMaps and Secrets, resolved through its scope
//! ([`crate::knative::resources`]): the definition used is recorded for reports, an ambiguous
//! one is an error (K2N080), and one defined only out of scope is said (K2N081), so that a user
//! who expected it to be used learns why it was not.
//!
//! What it is not: what a reference becomes in the job (`env.rs`, `volumes.rs` decide that).

use super::Ctx;
use crate::knative::resources::{Definition, Resolution, ResolvedFrom, ResourceKind};

/// The outcome of a reference, for the mapping code.
pub enum Resolved<'a> {
    Definition(&'a Definition),
    /// Two different definitions at the same distance; the error is already reported.
    Ambiguous,
    /// Not in scope; the mapping falls back to what it does for an object not in the inputs.
    Missing,
}

impl<'a> Ctx<'a> {
    /// The nearest definition of `kind` `name` in the Service's namespace; `path` is the
    /// reference's YAML path, where findings point.
    pub fn resolve(&mut self, kind: ResourceKind, name: &str, path: &str) -> Resolved<'a> {
        match self.scope.resolve(kind, &self.namespace, name) {
            Resolution::Found(definition) => {
                let from = ResolvedFrom {
                    kind,
                    name: name.to_string(),
                    file: definition.file.clone(),
                    line: definition.line,
                };
                if let Err(at) = self.resolved.binary_search(&from) {
                    self.resolved.insert(at, from);
                }
                Resolved::Definition(definition)
            }
            Resolution::Ambiguous {
                first,
                second,
                distance,
            } => {
                let what = match kind {
                    ResourceKind::ConfigMap => "data",
                    ResourceKind::Secret => "key names",
                };
                self.report(
                    "K2N080",
                    path,
                    format!(
                        "{kind} {}/{name} has two definitions with different {what} {distance}: {} and {}; the nearest definition must be unique, so this Service is not converted",
                        self.namespace,
                        first.origin(),
                        second.origin()
                    ),
                );
                Resolved::Ambiguous
            }
            Resolution::Missing {
                elsewhere: Some(definition),
            } => {
                self.report(
                    "K2N081",
                    path,
                    format!(
                        "{kind} {}/{name} is defined at {}, which is outside this Service's scope (its own file, its folder and the folders above it), so it is not used",
                        self.namespace,
                        definition.origin()
                    ),
                );
                Resolved::Missing
            }
            Resolution::Missing { elsewhere: None } => Resolved::Missing,
        }
    }
}
