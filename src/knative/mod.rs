//! Knative side of the pipeline: reading documents with their source locations ([`load`],
//! [`locate`]), the ConfigMaps and Secrets they define and which of them a Service sees
//! ([`resources`], by folder: [`scope`]), reading Services from a live cluster ([`cluster`]) and
//! the typed Service model ([`model`]). Nothing here knows about Nomad.

pub mod cluster;
pub mod documents;
pub mod load;
pub mod locate;
pub mod model;
pub mod nesting;
pub mod redact;
pub mod resources;
pub mod scope;
pub mod yaml_events;
