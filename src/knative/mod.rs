//! Knative side of the pipeline: reading documents with their source locations ([`load`],
//! [`locate`]) and the typed Service model ([`model`]). Nothing here knows about Nomad.

pub mod load;
pub mod locate;
pub mod model;
