//! The integration tests, as one test crate: one link and one binary instead of one per file,
//! and the shared support (the Nomad API double, the fake Kubernetes API, the verifier's process
//! fixtures, a test PKI) compiled once, so that nothing in it is dead code for some test file.
//!
//! Each module reads like a user session of one part of the tool; `support/` holds the doubles.
//! Run one part with a filter, e.g. `cargo test --test integration deploy::`.

mod support;

mod batch;
mod cli;
mod completions;
mod convert_snapshots;
mod deploy;
mod deploy_bench;
mod deploy_hcl;
mod diagnostics;
mod hostile_inputs;
mod hostile_servers;
mod import;
mod invalid_inputs;
mod nomad_double_scaling;
mod nomad_examples;
mod nomad_oracle;
mod platform;
mod properties;
mod scale_to_zero;
mod scale_to_zero_bench;
mod scoping;
mod secret_redaction;
mod traefik_routes;
mod validate_rules;
mod verify;
mod verify_bench;
mod verify_nomad;
mod verify_warm;
