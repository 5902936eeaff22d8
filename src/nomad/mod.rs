//! Nomad side of the pipeline: the typed job model, its HCL rendering and parsing, the field
//! schema they share, and the offline validator.

pub mod hcl;
pub mod model;
pub mod schema;
pub mod validate;
