//! Nomad side of the pipeline: the typed job model, its HCL rendering and parsing, the field
//! schema they share, the offline validator, and the HTTP API client.

pub mod client;
pub mod hcl;
pub mod model;
pub mod schema;
pub mod validate;

/// Nanoseconds in a second: Nomad's API durations are nanoseconds.
pub const SECOND: i64 = 1_000_000_000;
