//! knative2nomad: convert Knative Services to Nomad jobs, deploy them, and verify the migration.
//!
//! The pipeline (see docs/mapping.md): [`knative::load`] reads YAML/JSON documents with their
//! source locations, [`knative::model`] holds the typed Knative Service, [`convert`] maps it to the
//! typed Nomad model in [`nomad::model`] while recording [`findings`], and [`nomad::hcl`] /
//! serde_json render it. [`batch`] runs the pipeline over many inputs and [`output`] writes or
//! compares what it renders; [`deploy`] and [`verify`] act on a real cluster. [`cli`] turns the
//! command line into the plain settings these take. ARCHITECTURE.md has the whole map.

pub mod batch;
pub mod cli;
pub mod config;
pub mod convert;
pub mod crypto;
pub mod deploy;
pub mod files;
pub mod findings;
pub mod knative;
pub mod nomad;
pub mod output;
pub mod platform;
pub mod redact;
pub mod report;
pub mod shell;
pub mod traefik;
pub mod verify;
