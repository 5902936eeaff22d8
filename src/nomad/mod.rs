//! Nomad side of the pipeline: the typed job model, its HCL rendering and parsing, and the
//! offline validator.

pub mod client;
pub mod model;
