//! knative
pub mod cluster;
